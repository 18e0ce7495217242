//! Generates the Rust code of `proto/` with a vendored protoc, so nothing is installed by hand.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["records.proto", "events.proto", "services.proto"]
        .map(|f| root.join("marketsync/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // JSON (REST, SSE, stored snapshots) and OpenAPI schemas come from the same types.
        .message_attribute(
            ".",
            "#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)] #[serde(default)]",
        )
        .file_descriptor_set_path(out.join("marketsync_descriptor.bin"))
        .compile_with_config(config, &files, &[root])?;
    Ok(())
}
