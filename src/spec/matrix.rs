//! Matrix expansion: the cartesian product of axis values, first axis varying slowest.

use indexmap::IndexMap;

use super::model::Value;

/// The most nodes one pipeline may expand to (all stages together). A study grid of a few
/// thousand nodes is far below it; a few hundred bytes of YAML with ten axes is far above
/// it and would otherwise exhaust memory before any check ran.
pub const MAX_NODES: usize = 100_000;

/// How many nodes the axes expand to, or None if that overflows `usize`.
pub fn node_count(axes: &[(String, Vec<Value>)]) -> Option<usize> {
    axes.iter()
        .try_fold(1usize, |count, (_, values)| count.checked_mul(values.len()))
}

pub fn combinations(axes: &[(String, Vec<Value>)]) -> Vec<IndexMap<String, Value>> {
    let mut combos = vec![IndexMap::new()];
    for (axis, values) in axes {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for value in values {
                let mut extended = combo.clone();
                extended.insert(axis.clone(), value.clone());
                next.push(extended);
            }
        }
        combos = next;
    }
    combos
}

/// "10 × 10 × … = N nodes": the axis sizes of a matrix, for a diagnostic.
pub fn describe_count(axes: &[(String, Vec<Value>)]) -> String {
    let sizes: Vec<String> = axes.iter().map(|(_, v)| v.len().to_string()).collect();
    match node_count(axes) {
        Some(n) => format!("{} = {n} nodes", sizes.join(" × ")),
        None => format!("{} nodes: too many to count", sizes.join(" × ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn product_in_declared_order() {
        let axes = vec![
            ("g".to_owned(), vec![json!("gan"), json!("ddpm")]),
            ("n".to_owned(), vec![json!(1), json!(2), json!(3)]),
        ];
        let combos = combinations(&axes);
        assert_eq!(combos.len(), 6);
        assert_eq!(combos[0]["g"], json!("gan"));
        assert_eq!(combos[2]["n"], json!(3));
        assert_eq!(combos[3]["g"], json!("ddpm"));
        assert!(combinations(&[]).len() == 1);
        assert_eq!(node_count(&axes), Some(6));
        assert_eq!(node_count(&[]), Some(1));
    }

    #[test]
    fn counts_without_overflowing() {
        let ten: Vec<Value> = (0..10).map(|i| json!(i)).collect();
        let axes: Vec<(String, Vec<Value>)> =
            (0..30).map(|i| (format!("a{i}"), ten.clone())).collect();
        // 10^30 does not fit in 64 bits.
        assert_eq!(node_count(&axes), None);
        assert_eq!(node_count(&axes[..5]), Some(100_000));
    }
}
