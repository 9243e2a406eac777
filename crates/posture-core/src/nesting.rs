//! A cheap scan of a YAML (or JSON) text for how deeply it nests, run before the parser sees it.
//!
//! The YAML parser takes time that grows with the square of the nesting, so a document nested
//! 100,000 levels deep keeps it busy for minutes before any depth limit of the deserializer
//! applies. No snapshot, policy or scenario nests anywhere near [`MAX_NESTING`]; one that does is
//! refused here in one pass, naming the line where it went too deep.
//!
//! The count is an upper bound of the real depth: block nesting is counted by indentation levels
//! and `- ` entries, flow nesting by `[`/`{` outside quoted scalars and comments; the contents of
//! block scalars (`|`, `>`) are skipped.

/// More nesting than any Kubernetes object posture reads (a few dozen levels at most).
pub const MAX_NESTING: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: nested more than {limit} levels deep (refused before parsing)")]
pub struct TooDeep {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub limit: usize,
}

/// Refuses `text` if it nests more than `limit` levels anywhere.
pub fn check_nesting(file: &str, text: &str, limit: usize) -> Result<(), TooDeep> {
    let too_deep = |line: usize, column: usize| TooDeep {
        file: file.to_owned(),
        line: line + 1,
        column: column + 1,
        limit,
    };
    // Indentations of the open block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // Inside a block scalar: lines indented more than this belong to it.
    let mut block_scalar: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        if let Some(parent) = block_scalar {
            if rest.is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        if quote.is_none() && flow == 0 {
            if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
                continue;
            }
            while indents.last().is_some_and(|&open| open > indent) {
                indents.pop();
            }
            if indents.last().is_none_or(|&open| open < indent) {
                indents.push(indent);
            }
        }
        let block = indents.len();
        let mut dashes = 0;
        // The last character outside quotes that decides whether a node may start here:
        // ' ' at the line's start and after `: `, `- `, `? `; the indicator itself right after
        // it; 'x' inside a plain scalar, where `[`, `{` and quotes are ordinary characters.
        let mut last = ' ';
        let mut escaped = false;
        let mut chars = line.char_indices().skip(indent).peekable();
        while let Some((column, c)) = chars.next() {
            match quote {
                Some('"') => {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => quote = None,
                        _ => escaped = false,
                    }
                    if c != '\\' {
                        escaped = false;
                    }
                    continue;
                }
                Some(_) => {
                    if c == '\'' {
                        // `''` is a quote inside a single-quoted scalar.
                        if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                            chars.next();
                        } else {
                            quote = None;
                        }
                    }
                    continue;
                }
                None => {}
            }
            let node_may_start = if flow > 0 {
                matches!(last, ' ' | '[' | '{' | ',' | ':')
            } else {
                last == ' '
            };
            match c {
                ' ' | '\t' => {
                    if matches!(last, ':' | '-' | '?' | ',') {
                        last = ' ';
                    }
                    continue;
                }
                '#' if line[..column].ends_with([' ', '\t']) || column == indent => break,
                '\'' | '"' if node_may_start => {
                    quote = Some(c);
                    escaped = false;
                    continue;
                }
                '[' | '{' if node_may_start || flow > 0 => {
                    flow += 1;
                    if block + dashes + flow > limit {
                        return Err(too_deep(number, column));
                    }
                    last = c;
                    continue;
                }
                ']' | '}' if flow > 0 => {
                    flow -= 1;
                    last = 'x';
                    continue;
                }
                ',' if flow > 0 => {
                    last = ',';
                    continue;
                }
                '-' if flow == 0 && last == ' ' && chars.peek().is_none_or(|&(_, n)| n == ' ') => {
                    dashes += 1;
                    if block + dashes > limit {
                        return Err(too_deep(number, column));
                    }
                    last = '-';
                    continue;
                }
                ':' | '?'
                    if flow > 0 || chars.peek().is_none_or(|&(_, n)| n == ' ' || n == '\t') =>
                {
                    last = c;
                    continue;
                }
                _ => last = 'x',
            }
        }
        if block + dashes > limit {
            return Err(too_deep(number, indent));
        }
        if quote.is_none() && flow == 0 && block_scalar_header(line) {
            block_scalar = Some(indent + 2 * dashes);
        }
    }
    Ok(())
}

/// Whether the line's value starts a block scalar: it ends in `|` or `>`, with optional
/// chomping and indentation indicators, after `: ` or `- `.
fn block_scalar_header(line: &str) -> bool {
    let value = line.split(" #").next().unwrap_or(line).trim_end();
    let head = value.trim_end_matches(['+', '-', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    (head.ends_with(" |") || head.ends_with(" >") || head == "|" || head == ">")
        && (value.contains(": ") || value.trim_start().starts_with("- ") || head.trim() == "|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str, limit: usize) -> bool {
        check_nesting("t.yaml", text, limit).is_ok()
    }

    #[test]
    fn ordinary_documents_pass() {
        let text = include_str!("../../../scenarios/homelab.yaml");
        assert!(depth_ok(text, 64));
        assert!(depth_ok("a: {b: [1, 2, {c: d}]}\n", 4));
        assert!(depth_ok("s: '[[[[[[[['\nt: \"{{{{{{\"\nu: x # [[[[[[\n", 2));
        assert!(depth_ok("script: |\n  [[[[[[[[[\n  {{{{{{\nnext: 1\n", 2));
        assert!(depth_ok("message: don't [ stop\nb: 1\n", 2));
        // Brackets inside plain scalars are characters; escapes do not end quotes.
        let many = "m: Back-off [restarting {container\n".repeat(1000);
        assert!(depth_ok(&many, 2));
        let escapes =
            "a: \"x\\\\\"\nb: \"say \\\"[[[\\\" 'it''s [[[\"\nc: 'it''s [[[['\n".repeat(500);
        assert!(depth_ok(&escapes, 2), "{escapes}");
        let json = r#"{"a":"[[[[","b":["{{{{",{"c":"]]"}]}"#.repeat(100);
        assert!(depth_ok(&json, 4), "{json}");
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_goes_too_deep() {
        let text = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = check_nesting("deep.yaml", &text, MAX_NESTING).expect_err("too deep");
        assert_eq!((err.line, err.column), (1, 3 + MAX_NESTING));
        assert_eq!(
            err.to_string(),
            format!(
                "deep.yaml:1:{}: nested more than 256 levels deep (refused before parsing)",
                3 + MAX_NESTING
            )
        );
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let text: String = (0..1000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let err = check_nesting("deep.yaml", &text, MAX_NESTING).expect_err("too deep");
        assert_eq!(err.line, MAX_NESTING + 1);
        let dashes = format!("{}x\n", "- ".repeat(100_000));
        assert!(check_nesting("deep.yaml", &dashes, MAX_NESTING).is_err());
        let json = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        assert!(check_nesting("deep.json", &json, MAX_NESTING).is_err());
    }
}
