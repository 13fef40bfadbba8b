//! A plain table of cells, sorted by a column and written as aligned text, Markdown or CSV.

use std::cmp::Ordering;

use crate::spec::Value;

/// One cell: its text for people and for CSV, and how it sorts.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub csv: String,
    pub sort: SortKey,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

impl Cell {
    pub fn empty() -> Cell {
        Cell {
            text: "-".into(),
            csv: String::new(),
            sort: SortKey::Missing,
        }
    }

    pub fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            csv: text.clone(),
            sort: SortKey::Text(text.clone()),
            text,
        }
    }

    /// A number shown with `precision` decimals (integers as they are); CSV keeps every digit.
    pub fn number(value: f64, csv: String, precision: usize) -> Cell {
        Cell {
            text: format!("{value:.precision$}"),
            csv,
            sort: SortKey::Number(value),
        }
    }

    /// A param or axis value, exactly as written (numbers keep every digit).
    pub fn exact(value: Option<&Value>) -> Cell {
        match value {
            Some(Value::Number(number)) => Cell {
                text: number.to_string(),
                csv: number.to_string(),
                sort: SortKey::Number(number.as_f64().unwrap_or(f64::NAN)),
            },
            other => Cell::value(other, 0),
        }
    }

    /// A JSON value from a metrics file.
    pub fn value(value: Option<&Value>, precision: usize) -> Cell {
        match value {
            None | Some(Value::Null) => Cell::empty(),
            Some(Value::String(text)) => Cell::text(text.clone()),
            Some(Value::Number(number)) if number.is_f64() => Cell::number(
                number.as_f64().unwrap_or(f64::NAN),
                number.to_string(),
                precision,
            ),
            Some(Value::Number(number)) => Cell {
                text: number.to_string(),
                csv: number.to_string(),
                sort: SortKey::Number(number.as_f64().unwrap_or(f64::NAN)),
            },
            Some(other) => Cell::text(other.to_string()),
        }
    }
}

#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, thiserror::Error)]
#[error("sort by `{column}`: the table has no such column (columns: {known})")]
pub struct UnknownColumn {
    pub column: String,
    pub known: String,
}

impl Table {
    /// Stable sort by the named column; empty cells last in either direction.
    pub fn sort_by(&mut self, column: &str, descending: bool) -> Result<(), UnknownColumn> {
        let Some(at) = self.headers.iter().position(|h| h == column) else {
            return Err(UnknownColumn {
                column: column.to_owned(),
                known: self.headers.join(", "),
            });
        };
        self.rows.sort_by(|a, b| {
            let (a, b) = (&a[at].sort, &b[at].sort);
            match (a, b) {
                (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
                (SortKey::Missing, _) => Ordering::Greater,
                (_, SortKey::Missing) => Ordering::Less,
                _ => {
                    let order = compare(a, b);
                    if descending { order.reverse() } else { order }
                }
            }
        });
        Ok(())
    }

    /// A column is right-aligned when every cell that holds something is a number.
    fn numeric(&self, column: usize) -> bool {
        let mut any = false;
        for row in &self.rows {
            match &row[column].sort {
                SortKey::Number(_) => any = true,
                SortKey::Missing => {}
                SortKey::Text(_) => return false,
            }
        }
        any
    }

    /// Columns separated by two spaces, a dashed rule under the headers, no trailing blanks.
    pub fn to_aligned(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|row| row[c].text.chars().count())
                    .chain([self.headers[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.headers.len()).map(|c| self.numeric(c)).collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, text)| {
                    let pad = widths[c].saturating_sub(text.chars().count());
                    if numeric[c] {
                        format!("{}{text}", " ".repeat(pad))
                    } else {
                        format!("{text}{}", " ".repeat(pad))
                    }
                })
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(self.headers.iter().map(String::as_str).collect());
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(rules.iter().map(String::as_str).collect()));
        for row in &self.rows {
            out.push_str(&line(row.iter().map(|cell| cell.text.as_str()).collect()));
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let escape = |text: &str| text.replace('|', "\\|");
        let mut out = format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| escape(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let rules: Vec<&str> = (0..self.headers.len())
            .map(|c| if self.numeric(c) { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("|{}|\n", rules.join("|")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|cell| escape(&cell.text)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// RFC 4180: fields holding a comma, a quote or a line break are quoted.
    pub fn to_csv(&self) -> String {
        let field = |text: &str| {
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text.to_owned()
            }
        };
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| field(h)).collect();
        out.push_str(&format!("{}\n", headers.join(",")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|cell| field(&cell.csv)).collect();
            out.push_str(&format!("{}\n", cells.join(",")));
        }
        out
    }
}

fn compare(a: &SortKey, b: &SortKey) -> Ordering {
    match (a, b) {
        (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
        (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
        // Numbers before text in a mixed column.
        (SortKey::Number(_), _) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Table {
        Table {
            headers: vec!["node".into(), "acc".into()],
            rows: vec![
                vec![Cell::text("a,b"), Cell::value(Some(&json!(0.5)), 2)],
                vec![Cell::text("c"), Cell::empty()],
                vec![Cell::text("d|e"), Cell::value(Some(&json!(0.25)), 2)],
            ],
        }
    }

    #[test]
    fn renders_and_sorts_with_empty_cells_last() {
        let mut t = table();
        t.sort_by("acc", false).unwrap();
        assert_eq!(
            t.to_aligned(),
            "node   acc\n----  ----\nd|e   0.25\na,b   0.50\nc        -\n"
        );
        t.sort_by("acc", true).unwrap();
        assert_eq!(t.to_csv(), "node,acc\n\"a,b\",0.5\nd|e,0.25\nc,\n");
        assert_eq!(
            t.to_markdown(),
            "| node | acc |\n|---|---:|\n| a,b | 0.50 |\n| d\\|e | 0.25 |\n| c | - |\n"
        );
        assert!(
            t.sort_by("f1", false)
                .unwrap_err()
                .to_string()
                .contains("columns: node, acc")
        );
    }
}
