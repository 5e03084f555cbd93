//! `trainer export`: quantize a float safetensors (ours or PyTorch's) and write device files.

use std::fs;

use anyhow::Context;
use trainer::export::{self, Metadata};
use trainer::quantize;

use crate::commands::sign::Signer;
use crate::{ExportArgs, Output};

pub fn run(args: &ExportArgs, output: Output) -> anyhow::Result<()> {
    let signer = Signer::from_args(&args.signing)?;
    let (float, mut metadata) = export::read_float(&args.model)?;
    let int8 = quantize::quantize(&float);
    metadata.insert("format_version".into(), export::FORMAT_VERSION.into());
    metadata.insert("exported_from".into(), args.model.display().to_string());
    let metadata: Metadata = metadata;
    let out = &args.out_dir;
    fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let (f32_blob, int8_blob) = (float.to_blob()?, int8.to_blob()?);
    let signed = signer.map(|signer| signer.sign(out, &f32_blob, &int8_blob));
    let files: Vec<_> = [
        (out.join(export::INT8_FILE), export::int8_safetensors(&int8, &metadata)?),
        (out.join(export::F32_BLOB_FILE), f32_blob),
        (out.join(export::INT8_BLOB_FILE), int8_blob),
    ]
    .into_iter()
    .chain(signed.into_iter().flatten())
    .collect();
    crate::commands::write_files(out, &files)?;
    if !output.quiet {
        println!("Exported {} (float, 784 -> 10) to {}:", args.model.display(), out.display());
        for (path, bytes) in &files {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            println!("  {name:<24}{:>8} bytes", bytes.len());
        }
    }
    Ok(())
}
