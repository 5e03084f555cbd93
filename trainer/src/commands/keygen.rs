//! `trainer keygen`: a new Ed25519 key pair for signed device blobs.

use std::io::{self, Write};
use std::path::PathBuf;

use trainer::{bytes, signing};

use crate::commands::Output;

/// Options of `trainer keygen`.
#[derive(clap::Args)]
pub struct Args {
    /// The private key file; the public key goes next to it as *.pub.pem.
    #[arg(long, value_name = "FILE", default_value = "signing-key.pem")]
    pub out: PathBuf,
}

pub fn run(args: &Args, output: Output) -> anyhow::Result<()> {
    let key = signing::generate()?;
    let public_path = signing::write_key_pair(&key, &args.out)?;
    let public_hex = bytes::hex(&key.verifying_key().to_bytes());
    let mut out = io::stdout().lock();
    if output.json {
        let json = serde_json::json!({
            "private_key": args.out, "public_key": public_path, "public_key_hex": public_hex,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else if output.quiet {
        writeln!(out, "{public_hex}")?;
    } else {
        writeln!(out, "Wrote {} (private: keep it secret, owner-only)", args.out.display())?;
        writeln!(out, "  and {} (public, for firmware)", public_path.display())?;
        writeln!(out, "Public key: {public_hex}")?;
        writeln!(out, "Sign:     trainer train --signing-key {} --counter 1", args.out.display())?;
        // build.rs runs in firmware-example/: give it a path that works from there.
        let absolute = std::fs::canonicalize(&public_path).unwrap_or(public_path);
        writeln!(
            out,
            "Firmware: cd firmware-example && FIRMWARE_PUBLIC_KEY={} cargo run --release --features signed",
            absolute.display()
        )?;
    }
    Ok(())
}
