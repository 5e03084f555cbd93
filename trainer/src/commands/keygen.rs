//! `trainer keygen`: a new Ed25519 key pair for signed device blobs.

use trainer::signing;

use crate::{KeygenArgs, Output};

pub fn run(args: &KeygenArgs, output: Output) -> anyhow::Result<()> {
    let key = signing::generate()?;
    let public_path = signing::write_key_pair(&key, &args.out)?;
    let public_hex: String =
        key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    if output.json {
        let json = serde_json::json!({
            "private_key": args.out, "public_key": public_path, "public_key_hex": public_hex,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else if output.quiet {
        println!("{public_hex}");
    } else {
        println!("Wrote {} (private: keep it secret, owner-only)", args.out.display());
        println!("  and {} (public, for firmware)", public_path.display());
        println!("Public key: {public_hex}");
        println!("Sign:     trainer train --signing-key {} --counter 1", args.out.display());
        // build.rs runs in firmware-example/: give it a path that works from there.
        let absolute = std::fs::canonicalize(&public_path).unwrap_or(public_path);
        println!(
            "Firmware: cd firmware-example && FIRMWARE_PUBLIC_KEY={} cargo run --release --features signed",
            absolute.display()
        );
    }
    Ok(())
}
