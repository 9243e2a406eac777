//! `posture completions` and `posture man`, generated from the clap definitions.

mod common;

use common::{posture, run};

#[tokio::test]
async fn bash_completion_is_a_valid_script_that_knows_every_command() {
    let out = run(posture(&["completions", "bash"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for command in [
        "check",
        "apply",
        "rollback",
        "drill",
        "watch",
        "completions",
    ] {
        assert!(out.stdout.contains(command), "{command} missing");
    }
    assert!(
        out.stdout.contains("--pause"),
        "apply's options are completed"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("posture.bash");
    std::fs::write(&script, &out.stdout).expect("written");
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(posture(&["completions", shell])).await;
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("posture"), "{shell}");
    }
    let out = run(posture(&["completions", "tcsh"])).await;
    assert_eq!(out.code, 2, "an unknown shell is a usage error");
}

#[tokio::test]
async fn man_pages_cover_every_command_and_its_options() {
    let out = run(posture(&["man"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH posture 1"), "{}", out.stdout);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("man1");
    let out = run(posture(&["man", "--dir", &target.display().to_string()])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let help = run(posture(&["--help"])).await.stdout;
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line; a wrapped description continues further in.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    for command in commands {
        let page = std::fs::read_to_string(target.join(format!("posture-{command}.1")))
            .unwrap_or_else(|e| panic!("no page for {command}: {e}"));
        assert!(page.contains(&format!(".TH posture-{command} 1")), "{page}");
    }
    let apply = std::fs::read_to_string(target.join("posture-apply.1")).expect("apply's page");
    assert!(apply.contains("\\-\\-pause"), "{apply}");
}
