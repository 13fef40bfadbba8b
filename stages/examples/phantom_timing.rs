//! Times the generation of the default phantom (1,082 images at 64 px):
//!
//! `cargo run -p augflow-stages --release --example phantom_timing -- [size]`

use std::time::Instant;

use augflow_stages::phantom::{PhantomConfig, generate_phantom};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size: u32 = std::env::args().nth(1).map_or(Ok(64), |s| s.parse())?;
    let cfg = PhantomConfig {
        size,
        ..PhantomConfig::default()
    };
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let manifest = generate_phantom(&cfg, 42, dir.path())?;
    let elapsed = started.elapsed();
    let n = manifest.images.len();
    println!(
        "{n} images at {size} px in {:.2} s ({:.2} ms per image)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / n as f64
    );
    Ok(())
}
