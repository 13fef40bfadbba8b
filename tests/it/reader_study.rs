//! The reader study end to end in headless Chromium: the pipeline writes the blinded page,
//! a script answers it as two readers would (clicking the page's own radio buttons), the
//! page's own code turns the answers into the JSON it downloads, and `score.reader_study`
//! reads those files back; the numbers are checked against the page's key.

use std::path::Path;
use std::process::Command;

use crate::common::TestProject;

const PIPELINE: &str = "\
seed: 4
stages:
  data:
    kind: dataset.phantom
    params: {size: 32, classes: {healthy: 4, viral: 4}}
  fake:
    matrix:
      generator: [gan, ddpm]
    seed: 9
    kind: dataset.phantom
    desc: Stand-ins for generator samples (another phantom draw per generator)
    params: {size: 32, classes: {healthy: 3, viral: 3}}
  page:
    kind: report.reader_study
    inputs:
      real: data.images
      samples: fake@*.images
    params: {real_per_class: 2, synthetic_per_class: 2}
";

const SCORE: &str = "  readers:
    kind: score.reader_study
    inputs: {page: page.page}
    params: {responses: answers}
";

/// Answers the page in the browser: image k (in page order) gets `rating(k)` and
/// `real(k)`; returns the JSON the page's download button would save.
fn answer_in_chromium(page: &Path, work: &Path, reader: &str, pattern: &str) -> String {
    let html = std::fs::read_to_string(page).expect("read the page");
    let script = format!(
        "<script>
document.getElementById('reader').value = '{reader}';
[...document.querySelectorAll('.item')].forEach((el, k) => {{
  const id = el.dataset.id;
  const [rating, real] = {pattern};
  el.querySelector('input[name=\"r-' + id + '\"][value=\"' + rating + '\"]').click();
  el.querySelector('input[name=\"g-' + id + '\"][value=\"' + (real ? 'real' : 'synthetic') + '\"]').click();
}});
const pre = document.createElement('pre');
pre.id = 'answers';
pre.textContent = augflowAnswers();
document.body.appendChild(pre);
</script></body>"
    );
    let at = html.rfind("</body>").expect("the page ends with </body>");
    let harness = work.join(format!("harness-{reader}.html"));
    std::fs::write(
        &harness,
        format!("{}{}{}", &html[..at], script, &html[at + 7..]),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", harness.display()))
        .output()
        .expect("run chromium (scripts/setup.sh installs it)");
    let dom = String::from_utf8_lossy(&output.stdout);
    // The page's own counter, updated by the change events of the clicks.
    assert!(
        dom.contains("12 of 12 answered"),
        "chromium did not run the page:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = dom.find("<pre id=\"answers\">").expect("the answers block") + 18;
    let end = start + dom[start..].find("</pre>").unwrap();
    dom[start..end].to_owned()
}

#[test]
fn readers_answer_the_page_in_chromium_and_the_scores_match_the_key() {
    let project = TestProject::new(PIPELINE);
    project.run(&[]).assert_ok();
    let page_dir = project.path(".augflow/out/page/page");
    let html = project.read(".augflow/out/page/page/reader-study.html");
    let key: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/page/page/key.json")).unwrap();
    let items = key["items"].as_array().unwrap();
    // 2 real + 2 per generator, per class: 12 images, the sources blinded.
    assert_eq!(items.len(), 12);
    assert!(!html.contains("gan") && !html.contains("ddpm") && !html.contains("viral"));

    // Reader A: rating k % 5 + 1, "real" for even k. Reader B: 5 for real images... as
    // B cannot know, B says 4 for even k and 2 for odd k, and "real" for k % 3 == 0.
    let answers = project.path("answers");
    std::fs::create_dir_all(&answers).unwrap();
    let work = project.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let page = page_dir.join("reader-study.html");
    let a = answer_in_chromium(&page, &work, "A", "[k % 5 + 1, k % 2 == 0]");
    let b = answer_in_chromium(&page, &work, "B", "[k % 2 == 0 ? 4 : 2, k % 3 == 0]");
    std::fs::write(answers.join("a.json"), &a).unwrap();
    std::fs::write(answers.join("b.json"), &b).unwrap();

    project.write("augflow.yaml", &format!("{PIPELINE}{SCORE}"));
    let run = project.run(&[]);
    run.assert_ok();
    assert_eq!(run.executed(), vec!["readers".to_owned()]);
    let scores: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/readers/scores/metrics.json")).unwrap();

    // Expected numbers from the key and the two patterns, computed here.
    let rating_a = |k: usize| (k % 5 + 1) as f64;
    let rating_b = |k: usize| if k.is_multiple_of(2) { 4.0 } else { 2.0 };
    let real_a = |k: usize| k.is_multiple_of(2);
    let real_b = |k: usize| k.is_multiple_of(3);
    for source in ["real", "gan", "ddpm"] {
        let ks: Vec<usize> = (0..items.len())
            .filter(|&k| items[k]["source"] == source)
            .collect();
        let want =
            ks.iter().map(|&k| rating_a(k) + rating_b(k)).sum::<f64>() / (2 * ks.len()) as f64;
        let row = scores["ratings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source"] == source)
            .unwrap_or_else(|| panic!("no row for {source}: {scores}"));
        assert!(
            (row["mean_rating"].as_f64().unwrap() - want).abs() < 1e-12,
            "{source}: {row}"
        );
        assert_eq!(row["ratings"], 2 * ks.len());
    }
    let right = (0..items.len())
        .map(|k| {
            let real = items[k]["source"] == "real";
            usize::from(real_a(k) == real) + usize::from(real_b(k) == real)
        })
        .sum::<usize>();
    let accuracy = &scores["accuracy"];
    assert_eq!(accuracy["n"], 2 * items.len());
    assert!(
        (accuracy["value"].as_f64().unwrap() - right as f64 / (2 * items.len()) as f64).abs()
            < 1e-12
    );
    assert!(accuracy["ci_low"].as_f64().unwrap() < accuracy["value"].as_f64().unwrap());
    assert_eq!(scores["readers"], serde_json::json!(["A", "B"]));
    assert_eq!(scores["kappa_items"], items.len());
    assert!(scores["kappa_guess"].is_number() && scores["kappa_rating"].is_number());

    // Answers to another page are refused, naming the file.
    let mut other: serde_json::Value = serde_json::from_str(&a).unwrap();
    other["study"] = "0000000000000000".into();
    std::fs::write(answers.join("c.json"), other.to_string()).unwrap();
    let output = project.augflow(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("c.json") && stderr.contains("this page is"),
        "{stderr}"
    );
}
