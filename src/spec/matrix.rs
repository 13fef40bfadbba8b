//! Matrix expansion: the cartesian product of axis values, first axis varying slowest.

use indexmap::IndexMap;

use super::model::Value;

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
    }
}
