//! Classification metrics against hand-computed confusion matrices.

use augflow_stages::StageError;
use augflow_stages::metrics::classification_metrics;

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn metrics_match_a_hand_computed_confusion_matrix() {
    // true a: a a b   true b: b b   true c: a b b b (c is never predicted)
    let names = classes(&["a", "b", "c", "d"]);
    let y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    let y_pred = [0, 0, 1, 1, 1, 0, 1, 1, 1];
    let m = classification_metrics(&names, &y_true, &y_pred, None).unwrap();
    assert_eq!(
        m.confusion,
        vec![
            vec![2, 1, 0, 0],
            vec![0, 2, 0, 0],
            vec![1, 3, 0, 0],
            vec![0, 0, 0, 0]
        ]
    );
    assert!(close(m.accuracy, 4.0 / 9.0));
    let a = &m.per_class["a"];
    assert!(close(a.precision, 2.0 / 3.0) && close(a.recall, 2.0 / 3.0) && close(a.f1, 2.0 / 3.0));
    assert_eq!(a.support, 3);
    let b = &m.per_class["b"];
    assert!(close(b.precision, 2.0 / 6.0) && close(b.recall, 1.0) && close(b.f1, 0.5));
    let c = &m.per_class["c"];
    assert!(close(c.precision, 0.0) && close(c.recall, 0.0) && close(c.f1, 0.0));
    assert_eq!(c.support, 4);
    // d has no samples and no predictions: out of the means.
    assert_eq!(m.per_class["d"].support, 0);
    assert_eq!(m.undefined_precision, ["c", "d"]);
    assert!(close(m.balanced_accuracy, (2.0 / 3.0 + 1.0 + 0.0) / 3.0));
    assert!(close(m.macro_f1, (2.0 / 3.0 + 0.5 + 0.0) / 3.0));
    assert_eq!(m.roc_auc, None);
    assert_eq!(m.macro_roc_auc, None);
}

#[test]
fn auc_handles_perfect_reversed_constant_and_tied_scores() {
    let names = classes(&["neg", "pos"]);
    let y_true = [0, 0, 1, 1];
    let y_pred = [0, 0, 1, 1];
    let auc = |scores: [f32; 4]| {
        let probs: Vec<Vec<f32>> = scores.iter().map(|&s| vec![1.0 - s, s]).collect();
        let m = classification_metrics(&names, &y_true, &y_pred, Some(&probs)).unwrap();
        let per_class = m.roc_auc.unwrap();
        assert!(
            close(per_class["pos"].unwrap(), per_class["neg"].unwrap()),
            "symmetric for two classes"
        );
        (per_class["pos"].unwrap(), m.macro_roc_auc.unwrap())
    };
    assert_eq!(auc([0.1, 0.2, 0.8, 0.9]).0, 1.0);
    assert_eq!(auc([0.9, 0.8, 0.2, 0.1]).0, 0.0);
    assert_eq!(auc([0.5, 0.5, 0.5, 0.5]).0, 0.5);
    // Pairs (pos, neg): (0.5, 0.1) win, (0.5, 0.5) tie, (0.9, 0.1) win, (0.9, 0.5) win.
    let (pos, macro_auc) = auc([0.1, 0.5, 0.5, 0.9]);
    assert!(close(pos, 3.5 / 4.0) && close(macro_auc, 3.5 / 4.0));
}

#[test]
fn auc_is_none_for_a_class_without_positives() {
    let names = classes(&["a", "b", "c"]);
    let y_true = [0, 1, 0, 1];
    let y_pred = [0, 1, 1, 1];
    let probs = vec![
        vec![0.7, 0.2, 0.1],
        vec![0.1, 0.8, 0.1],
        vec![0.4, 0.5, 0.1],
        vec![0.3, 0.6, 0.1],
    ];
    let m = classification_metrics(&names, &y_true, &y_pred, Some(&probs)).unwrap();
    let auc = m.roc_auc.clone().unwrap();
    assert_eq!(auc["c"], None);
    // a: positives 0.7, 0.4 vs negatives 0.1, 0.3 → all 4 pairs won.
    assert_eq!(auc["a"], Some(1.0));
    assert_eq!(auc["b"], Some(1.0));
    assert_eq!(m.macro_roc_auc, Some(1.0));
    let json = serde_json::to_value(&m).unwrap();
    assert!(json["roc_auc"]["c"].is_null());
}

#[test]
fn bad_inputs_are_named() {
    let names = classes(&["a", "b"]);
    let message = |t: &[usize], p: &[usize], probs: Option<&[Vec<f32>]>| {
        let err = classification_metrics(&names, t, p, probs).unwrap_err();
        assert!(matches!(err, StageError::InvalidMetricsInput(_)));
        err.to_string()
    };
    assert!(message(&[0, 1], &[0], None).contains("2 true labels but 1 predictions"));
    assert!(message(&[0, 2], &[0, 1], None).contains("true label 2 of sample 1"));
    assert!(message(&[0, 1], &[0, 5], None).contains("prediction 5 of sample 1"));
    assert!(message(&[], &[], None).contains("no samples"));
    assert!(message(&[0], &[0], Some(&[vec![1.0]])).contains("1 scores for 2 classes"));
    assert!(message(&[0], &[0], Some(&[vec![f32::NAN, 0.0]])).contains("NaN"));
}
