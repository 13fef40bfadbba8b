//! pytorch-fid's input preparation, on the host: an image with values in [0, 1] (an 8-bit
//! PNG divided by 255, as torchvision's `ToTensor`) is resized to 299×299 with
//! `F.interpolate(mode="bilinear", align_corners=False)` and scaled to [-1, 1]; grayscale
//! is replicated to three channels (PIL's `convert("RGB")`).

use crate::metrics::quality::GrayImage;

/// The network's input size.
pub const INPUT_SIZE: usize = 299;

/// Source indices and weights of one output coordinate, as PyTorch computes them in f32
/// (`area_pixel_compute_source_index`, `guard_index_and_lambda`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: f32,
    w1: f32,
}

fn taps(input: usize, output: usize) -> Vec<Tap> {
    if input == output {
        return (0..output)
            .map(|i| Tap {
                i0: i,
                i1: i,
                w0: 1.0,
                w1: 0.0,
            })
            .collect();
    }
    let ratio = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let src = (ratio * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let w1 = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap {
                i0,
                i1,
                w0: 1.0 - w1,
                w1,
            }
        })
        .collect()
}

/// Bilinear resize (align_corners=False, no antialiasing) of a row-major image.
pub fn resize_bilinear(
    pixels: &[f32],
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<f32> {
    let xs = taps(width, out_width);
    let ys = taps(height, out_height);
    let mut out = Vec::with_capacity(out_width * out_height);
    for y in &ys {
        let row0 = &pixels[y.i0 * width..(y.i0 + 1) * width];
        let row1 = &pixels[y.i1 * width..(y.i1 + 1) * width];
        for x in &xs {
            let top = x.w0 * row0[x.i0] + x.w1 * row0[x.i1];
            let bottom = x.w0 * row1[x.i0] + x.w1 * row1[x.i1];
            out.push(y.w0 * top + y.w1 * bottom);
        }
    }
    out
}

/// One image as the network's input: 3 × 299 × 299 values in [-1, 1], channel-major.
pub fn network_input(image: &GrayImage) -> Vec<f32> {
    let plane: Vec<f32> = resize_bilinear(
        image.pixels(),
        image.width(),
        image.height(),
        INPUT_SIZE,
        INPUT_SIZE,
    )
    .into_iter()
    .map(|v| 2.0 * v - 1.0)
    .collect();
    let mut out = Vec::with_capacity(3 * plane.len());
    for _ in 0..3 {
        out.extend_from_slice(&plane);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_matches_pytorch_on_a_small_case() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]),
        //     size=(3, 4), mode="bilinear", align_corners=False)
        let out = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 2, 4, 3);
        let expected = [
            0.0, 0.25, 0.75, 1.0, //
            1.0, 1.25, 1.75, 2.0, //
            2.0, 2.25, 2.75, 3.0,
        ];
        for (a, b) in out.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn same_size_is_a_copy_and_input_is_three_equal_planes() {
        let pixels: Vec<f32> = (0..6).map(|i| i as f32 / 5.0).collect();
        assert_eq!(resize_bilinear(&pixels, 3, 2, 3, 2), pixels);
        let image = GrayImage::new(1, 1, vec![0.75]).unwrap();
        let input = network_input(&image);
        assert_eq!(input.len(), 3 * INPUT_SIZE * INPUT_SIZE);
        assert!(input.iter().all(|&v| v == 0.5));
    }
}
