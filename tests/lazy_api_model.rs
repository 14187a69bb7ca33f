//! The AWS API model `validate` checks rules against is decoded only by processes that
//! check rules: compiling rules to run them (`scan`, the Lambda's cold start) must not pay
//! for it. Its own test binary, so nothing else in the process has decoded it first.

use trailwatch::rules::{self, aws_api, RuleSet};

#[test]
fn compiling_rules_to_run_them_leaves_the_model_alone() {
    let bundled = rules::bundled();
    let (set, diags) = RuleSet::compile_dir_to_run(&bundled, &[], 0);
    assert!(set.is_some(), "{diags:?}");
    assert!(
        !aws_api::loaded(),
        "compile_dir_to_run (scan, the Lambda) decoded the AWS API model"
    );
    // `validate` and `test` do check the rules against it.
    let (set, diags) = RuleSet::compile_dir(&bundled, &[], 0);
    assert!(set.is_some(), "{diags:?}");
    assert!(aws_api::loaded());
}
