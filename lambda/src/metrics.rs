//! CloudWatch Embedded Metric Format: one JSON line on stdout per invocation, which
//! CloudWatch turns into metrics without any API call.

use serde_json::{json, Map, Value};

/// Writes `metrics` (name → count) as one EMF record in namespace `trailwatch`.
pub fn emit(function: &str, metrics: &[(&str, f64, &str)]) {
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "CloudWatchMetrics": [{"Namespace": "trailwatch", "Dimensions": [["FunctionName"]], "Metrics": defs}],
        }),
    );
    doc.insert("FunctionName".into(), Value::String(function.into()));
    for (name, value, _) in metrics {
        doc.insert((*name).into(), json!(value));
    }
    println!("{}", Value::Object(doc));
}
