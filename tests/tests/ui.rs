//! Compile-fail cases of `#[derive(Traverse)]`: each file in `tests/ui/` must fail to compile
//! with the error in its `.stderr` snapshot (regenerate with `TRYBUILD=overwrite`, then read
//! the diff: each must fail for the reason its file's comment states).

#[test]
#[cfg_attr(miri, ignore = "trybuild runs rustc, which Miri cannot")]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
