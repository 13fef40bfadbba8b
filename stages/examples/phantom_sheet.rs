//! Writes a contact sheet of phantom samples, one column per class and one row per
//! patient, to eyeball the generator's realism:
//!
//! `cargo run -p augflow-stages --release --example phantom_sheet -- [seed] [size] [out.png]`

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use augflow_stages::phantom::{PhantomConfig, generate_phantom};

const CLASSES: [&str; 5] = ["healthy", "bacterial", "viral", "covid19", "fungal"];
const ROWS: u32 = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().map_or(Ok(1), |s| s.parse())?;
    let size: u32 = args.next().map_or(Ok(128), |s| s.parse())?;
    let out = args
        .next()
        .unwrap_or_else(|| "/tmp/phantom_sheet.png".to_owned());

    let cfg = PhantomConfig {
        size,
        classes: CLASSES.iter().map(|c| (c.to_string(), ROWS)).collect(),
        images_per_patient: 1,
    };
    let dir = tempfile::tempdir()?;
    let manifest = generate_phantom(&cfg, seed, dir.path())?;

    let (width, height) = (size * CLASSES.len() as u32, size * ROWS);
    let mut sheet = vec![0u8; (width * height) as usize];
    let mut row_of: BTreeMap<&str, u32> = BTreeMap::new();
    for record in &manifest.images {
        let col = CLASSES.iter().position(|c| *c == record.label).unwrap_or(0) as u32;
        let row = row_of.entry(record.label.as_str()).or_default();
        let pixels = decode(&dir.path().join(&record.path))?;
        for y in 0..size {
            let dst = ((*row * size + y) * width + col * size) as usize;
            let src = (y * size) as usize;
            sheet[dst..dst + size as usize].copy_from_slice(&pixels[src..src + size as usize]);
        }
        *row += 1;
    }
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(&out)?), width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.write_header()?.write_image_data(&sheet)?;
    println!("wrote {out} (columns: {})", CLASSES.join(", "));
    Ok(())
}

fn decode(path: &Path) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut reader = png::Decoder::new(std::io::BufReader::new(File::open(path)?)).read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("png too large")?];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok(buf)
}
