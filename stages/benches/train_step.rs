//! Training-step time of ResNet-50 and a small CNN on Burn's backends, for comparison
//! with PyTorch (`bench/torch/run.sh` runs this and `bench/torch/train_step.py` together).
//!
//! `cargo bench -p augflow-stages --profile dev --bench train_step -- [backend…]`
//! where backend is `cpu` (flex), `cuda` or `wgpu`; prints one JSON line per measurement.
//! Batch 8, 1-channel input, 5 classes, Adam (lr 1e-4), cross-entropy; the median of the
//! timed steps after one warm-up step (which also compiles GPU kernels); timing stops
//! after `BENCH_BUDGET_S` (default 60) seconds. ResNet-50 at 224 px is skipped on a
//! software wgpu adapter unless `BENCH_SLOW` is set.
//!
//! `bench/gpu.sh` widens the grid through the environment: `BENCH_MODELS` (comma list of
//! `small_cnn`, `resnet50`, `efficientnet_b0`, `convnext_tiny`; default the first two),
//! `BENCH_SIZES` (default `64,224`), `BENCH_BATCHES` (default `8`), `BENCH_CHANNELS`
//! (default 1), `BENCH_STEPS` (timed steps, default 5). On a GPU each line also has
//! `mem_reserved_mib`: the most the device's allocator held after any step (Burn has no
//! peak counter; reserved pages bound the live peak from above).

mod bench_support;

use std::env;
use std::time::{Duration, Instant};

use augflow_stages::classifiers::{Architecture, Classifier, ModelSpec};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

const CLASSES: usize = 5;

/// The same 4-conv CNN as `train_step.py`'s `SmallCnn`.
#[derive(Module, Debug)]
struct SmallCnn {
    convs: Vec<Conv2d>,
    fc: Linear,
}

impl SmallCnn {
    fn new(device: &Device, in_channels: usize) -> Self {
        let channels = [in_channels, 32, 64, 128, 256];
        let convs = channels
            .windows(2)
            .map(|c| {
                Conv2dConfig::new([c[0], c[1]], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Self {
            convs,
            fc: LinearConfig::new(256, CLASSES).init(device),
        }
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for conv in &self.convs {
            x = relu(conv.forward(x));
        }
        let [b, c, _, _] = x.dims();
        self.fc.forward(x.mean_dim(3).mean_dim(2).reshape([b, c]))
    }
}

enum Net {
    Classifier(Box<Classifier>),
    Small(SmallCnn),
}

/// The input of one measurement.
struct Shape {
    size: usize,
    batch: usize,
    channels: usize,
}

/// Runs `warmup + steps` training steps (stopping early past `budget`) and returns the
/// per-step times after warm-up, and the most memory the device's allocator reserved.
fn time_steps(
    net: Net,
    shape: &Shape,
    device: &Device,
    steps: usize,
    budget: Duration,
) -> (Vec<f64>, Option<u64>) {
    let Shape {
        size,
        batch,
        channels,
    } = *shape;
    let ad = device.clone().autodiff();
    let x = Tensor::<4>::random([batch, channels, size, size], Distribution::Default, &ad);
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % CLASSES as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &ad);
    let mut reserved: Option<u64> = None;
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut optim = AdamConfig::new().init();
    let mut times = Vec::new();
    let started = Instant::now();
    let mut net = net;
    for i in 0..=steps {
        let t = Instant::now();
        net = match net {
            Net::Classifier(m) => {
                let loss = loss_fn.forward(m.forward_masked(x.clone(), None), y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &*m);
                Net::Classifier(Box::new(optim.step(1e-4, *m, grads)))
            }
            Net::Small(m) => {
                let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                Net::Small(optim.step(1e-4, m, grads))
            }
        };
        ad.sync().expect("device sync");
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
        if let Some(usage) = device.memory_pool_usage() {
            reserved = Some(reserved.unwrap_or(0).max(usage.bytes_reserved));
        }
        if i > 0 && started.elapsed() > budget {
            break;
        }
    }
    (times, reserved)
}

/// A comma list from the environment, or the default.
fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    let text = env::var(name).unwrap_or_else(|_| default.to_owned());
    text.split(',')
        .map(|item| {
            item.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot read `{item}`"))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let backends: Vec<String> = env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let backends = if backends.is_empty() {
        vec!["cpu".to_owned(), "wgpu".to_owned()]
    } else {
        backends
    };
    let budget = Duration::from_secs(
        env::var("BENCH_BUDGET_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let models: Vec<String> = env_list("BENCH_MODELS", "small_cnn,resnet50");
    let sizes: Vec<usize> = env_list("BENCH_SIZES", "64,224");
    let batches: Vec<usize> = env_list("BENCH_BATCHES", "8");
    let channels: usize = env_list("BENCH_CHANNELS", "1")[0];
    let steps: usize = env_list("BENCH_STEPS", "5")[0];
    for backend in backends {
        let Some((selected, software)) = bench_support::select_backend(&backend) else {
            continue;
        };
        for model in &models {
            for &size in &sizes {
                for &batch in &batches {
                    // On lavapipe this one did not finish a single step in 26 minutes.
                    if software
                        && model != "small_cnn"
                        && size == 224
                        && env::var_os("BENCH_SLOW").is_none()
                    {
                        eprintln!(
                            "skipping {model} at 224 px on a software adapter (BENCH_SLOW=1 runs it)"
                        );
                        continue;
                    }
                    let ad = selected.device.clone().autodiff();
                    let net = match model.as_str() {
                        "small_cnn" => Net::Small(SmallCnn::new(&ad, channels)),
                        other => {
                            let architecture: Architecture =
                                serde_json::from_value(serde_json::Value::from(other))
                                    .unwrap_or_else(|_| panic!("unknown model `{other}`"));
                            let spec = ModelSpec {
                                in_channels: channels,
                                num_classes: CLASSES,
                                ..ModelSpec::published(architecture)
                            };
                            Net::Classifier(Box::new(
                                Classifier::new(&spec, &ad).expect("spec").init_seeded(0),
                            ))
                        }
                    };
                    let shape = Shape {
                        size,
                        batch,
                        channels,
                    };
                    let first = Instant::now();
                    let (times, reserved) =
                        time_steps(net, &shape, &selected.device, steps, budget);
                    let memory = reserved.map_or_else(String::new, |bytes| {
                        format!(",\"mem_reserved_mib\":{:.0}", bytes as f64 / 1048576.0)
                    });
                    println!(
                        "{{\"framework\":\"burn\",\"backend\":\"{}\",\"model\":\"{model}\",\"size\":{size},\"batch\":{batch},\"channels\":{channels},\"median_s\":{:.4},\"steps\":{},\"total_s\":{:.1}{memory}}}",
                        selected.name,
                        median(times.clone()),
                        times.len(),
                        first.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}
