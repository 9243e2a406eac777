//! `posture completions` and `posture man`: generated from the clap definitions, so they never
//! drift from the options the binary takes.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{CliError, exit};

pub(crate) fn completions(args: &CompletionsArgs) -> Result<u8, CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "posture", &mut out);
    crate::render::write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(exit::OK)
}

pub(crate) fn man(args: &ManArgs) -> Result<u8, CliError> {
    let command = Cli::command();
    let Some(dir) = &args.dir else {
        let mut out = Vec::new();
        render(&command, &mut out)?;
        crate::render::write_stdout(&String::from_utf8_lossy(&out))?;
        return Ok(exit::OK);
    };
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut pages = vec![("posture.1".to_owned(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("posture-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone()
                .display_name(name.clone())
                .bin_name(format!("posture {}", sub.get_name())),
        ));
    }
    for (file, page) in pages {
        let mut out = Vec::new();
        render(&page, &mut out)?;
        super::write_file(&dir.join(&file), &String::from_utf8_lossy(&out))?;
    }
    Ok(exit::OK)
}

fn render(command: &clap::Command, out: &mut Vec<u8>) -> Result<(), CliError> {
    clap_mangen::Man::new(command.clone())
        .render(out)
        .map_err(|source| CliError::Write {
            path: "the man page".into(),
            source,
        })
}
