//! The SAM template check really expands the SAM resources: it passes on template.yaml and
//! fails on copies broken only in what SAM generates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's virtual environment (`make venv`) when there is one, else `python3`.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

fn cfn_lint(path: &Path) -> (i32, String) {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
        ])
        .arg(path)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect(
            "python3 with cfn-lint (`make venv` installs it into .venv from requirements-dev.txt)",
        );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap()
}

fn broken(from: &str, to: &str) -> (i32, String) {
    let t = template();
    assert_eq!(t.matches(from).count(), 1, "{from:?}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("template.yaml");
    std::fs::write(&p, t.replace(from, to)).unwrap();
    cfn_lint(&p)
}

#[test]
fn the_template_passes() {
    let (code, out) = cfn_lint(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/template.yaml"
    )));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_broken_generated_resource_fails() {
    // Only the AWS::Lambda::EventInvokeConfig that SAM generates limits retries to 2.
    let (code, out) = broken(
        "        MaximumRetryAttempts: 2",
        "        MaximumRetryAttempts: 7",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E3034"), "{out}");
    // A policy statement lands in the generated AWS::IAM::Role.
    let (code, out) = broken(
        "- Sid: PublishAlerts\n              Effect: Allow",
        "- Sid: PublishAlerts\n              Effect: Alow",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("'Alow' is not one of ['Allow', 'Deny']"),
        "{out}"
    );
}

#[test]
fn the_function_is_built_the_way_sam_expects() {
    let t = template();
    for needle in [
        "Runtime: provided.al2023",
        "Architectures: [arm64]",
        "BuildMethod: rust-cargolambda",
        "Binary: trailwatch-lambda",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
        "AttributeName: expires_at",
    ] {
        assert!(t.contains(needle), "template.yaml lacks {needle}");
    }
}
