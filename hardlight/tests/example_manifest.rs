//! A user's crate needs only `hardlight` and `tokio`: the examples crate proves it by listing nothing
//! else and compiling the full counter service.

#[test]
fn the_examples_crate_depends_on_hardlight_and_tokio_only() {
    let manifest = include_str!("../../examples/Cargo.toml");
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            names.push(
                line.split(['=', '.'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
            );
        }
    }
    names.sort();
    assert_eq!(names, ["hardlight", "tokio"]);
    assert!(!manifest.contains("[dev-dependencies]"));
}
