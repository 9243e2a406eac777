//! The k3s service as its install script writes it: a systemd unit whose `ExecStart` is the
//! binary, the subcommand and one quoted argument per line, and environment files of
//! `K3S_*=value` lines.

/// What a unit file says about how k3s runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// `server` or `agent`, the word after the binary.
    pub subcommand: Option<String>,
    /// The arguments after the subcommand.
    pub args: Vec<String>,
    /// `EnvironmentFile=` paths in the order systemd reads them, `%N` expanded.
    pub environment_files: Vec<String>,
}

/// Reads a unit file's `ExecStart` and `EnvironmentFile` lines. `name` is the unit's file name
/// (`k3s.service`), which `%N` stands for without its suffix.
pub fn parse_unit(name: &str, text: &str) -> Unit {
    let unit_name = name.strip_suffix(".service").unwrap_or(name);
    let mut unit = Unit::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("EnvironmentFile=") {
            let path = path.trim().trim_start_matches('-').replace("%N", unit_name);
            unit.environment_files.push(path);
        } else if let Some(command) = line.strip_prefix("ExecStart=") {
            // Continuation lines end in a backslash; the command ends at the first line without.
            let mut joined = String::new();
            let mut current = command.to_owned();
            loop {
                let trimmed = current.trim_end();
                match trimmed.strip_suffix('\\') {
                    Some(part) => {
                        joined.push_str(part);
                        joined.push(' ');
                        match lines.next() {
                            Some(next) => current = next.to_owned(),
                            None => break,
                        }
                    }
                    None => {
                        joined.push_str(trimmed);
                        break;
                    }
                }
            }
            let words = shell_words(&joined);
            let mut words = words.into_iter();
            // The binary (with systemd's `-`, `@`, `+` prefixes), then the subcommand.
            let _binary = words.next();
            unit.subcommand = words.next();
            unit.args = words.collect();
        }
    }
    unit
}

/// `KEY=value` lines of an environment file; quotes removed, comments and blanks skipped.
pub fn parse_environment(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            let value = shell_words(value).join(" ");
            Some((name.trim().to_owned(), value))
        })
        .collect()
}

/// Splits a command line into words the way a shell does for single and double quotes and
/// backslash escapes; enough for what the k3s install script writes.
pub fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                word.push(escaped);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(escaped) = chars.next() {
                    word.push(escaped);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_scripts_unit_reads_back_as_its_arguments() {
        let text = "[Service]\nType=notify\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/sysconfig/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service'\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--cluster-init' \\\n\t'--disable' \\\n\t'traefik' \\\n\t'--node-label=zone=a b' \\\n\nRestart=always\n";
        let unit = parse_unit("k3s.service", text);
        assert_eq!(unit.subcommand.as_deref(), Some("server"));
        assert_eq!(
            unit.args,
            [
                "--cluster-init",
                "--disable",
                "traefik",
                "--node-label=zone=a b"
            ]
        );
        assert_eq!(
            unit.environment_files,
            [
                "/etc/default/k3s",
                "/etc/sysconfig/k3s",
                "/etc/systemd/system/k3s.service.env"
            ]
        );
    }

    #[test]
    fn environment_files_lose_their_quotes() {
        let vars = parse_environment(
            "# written by the installer\nK3S_TOKEN='abc def'\nK3S_URL=\"https://10.0.0.1:6443\"\n\nexport K3S_DATA_DIR=/data/k3s\n",
        );
        assert_eq!(
            vars,
            [
                ("K3S_TOKEN".to_owned(), "abc def".to_owned()),
                ("K3S_URL".to_owned(), "https://10.0.0.1:6443".to_owned()),
                ("K3S_DATA_DIR".to_owned(), "/data/k3s".to_owned()),
            ]
        );
    }
}
