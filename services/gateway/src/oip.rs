//! The Open Inference Protocol v2 (KServe V2, Triton's HTTP/REST API): its messages, and the
//! decoding of an inference request into feature rows. No HTTP here; `api::v2` serves it.
//!
//! A request gives its rows in one of three forms:
//! - `features`: one FP32 (or FP64) tensor of shape `[N, 15]`, row-major, in signature order;
//!   every value must be finite and within its feature's range;
//! - named fields: one tensor per field of the `/v1` request (`timestamp` as BYTES, `weather`,
//!   `temperature_c`, `feels_like_c`, `humidity_pct`, `wind_speed_kmh`, `holiday`), each of
//!   shape `[N]` (or `[N, 1]`), validated exactly as `/v1` validates them;
//! - JSON: one BYTES tensor of shape `[N]` whose elements are `/v1` request objects.
//!
//! The binary tensor data extension is supported both ways: input tensors whose
//! `parameters.binary_data_size` is set are read from the bytes after the JSON header
//! (`Inference-Header-Content-Length`), and outputs are sent binary when asked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use velocast_features::{DemandRequest, FEATURE_COUNT, Signature};

/// The model's one input and output tensor names (as the trainer exports them).
pub const INPUT: &str = "features";
pub const OUTPUT: &str = "demand";

/// The named fields of the `/v1` request, in its order.
pub const FIELDS: [&str; 7] = [
    "timestamp",
    "weather",
    "temperature_c",
    "feels_like_c",
    "humidity_pct",
    "wind_speed_kmh",
    "holiday",
];

/// `GET /v2`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

/// A tensor's name, type and shape (`-1`: any size).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}[/versions/{version}]`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// `GET /v2/models/{name}[/versions/{version}]/ready`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelReady {
    pub name: String,
    pub ready: bool,
}

/// One input tensor of an inference request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    /// `FP32`, `FP64`, `INT8`..`INT64`, `UINT8`..`UINT64`, `BOOL` or `BYTES`.
    pub datatype: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
    /// Row-major values (flat or nested); absent when the tensor comes as binary data.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub data: Option<Value>,
}

/// An output the client asks for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestOutput {
    /// The model's one output.
    #[schema(pattern = "^demand$")]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
}

/// `POST /v2/models/{name}[/versions/{version}]/infer`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    /// Sent by KServe's client beside the path's name; when given, it must name the same model.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Likewise, when given, the version the path names (or the one served).
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
    #[schema(min_items = 1)]
    pub inputs: Vec<RequestInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// One output tensor of an answer. `data` is absent when the tensor is sent as binary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResponseOutput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<f32>>,
}

/// The answer to an inference request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
    pub outputs: Vec<ResponseOutput>,
}

/// A request the protocol refuses (400 with `{"error": …}`), naming where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub message: String,
    /// The JSON path at fault (`inputs[0].shape`, `inputs[2].data[5]`).
    pub field: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> ProtocolError {
    ProtocolError {
        field: field.into(),
        message: message.into(),
    }
}

/// The metadata of a served model version (the signature's single input, one output).
pub fn model_metadata(name: &str, versions: Vec<String>) -> ModelMetadata {
    ModelMetadata {
        name: name.to_owned(),
        versions,
        platform: "onnxruntime_onnx".to_owned(),
        inputs: vec![TensorMetadata {
            name: INPUT.to_owned(),
            datatype: "FP32".to_owned(),
            shape: vec![-1, FEATURE_COUNT as i64],
        }],
        outputs: vec![TensorMetadata {
            name: OUTPUT.to_owned(),
            datatype: "FP32".to_owned(),
            shape: vec![-1, 1],
        }],
    }
}

/// Splits a body into its JSON header and the binary tensor data after it.
pub fn split_binary<'a>(
    body: &'a [u8],
    header_length: Option<&str>,
) -> Result<(&'a [u8], &'a [u8]), ProtocolError> {
    match header_length {
        None => Ok((body, &[])),
        Some(text) => {
            let length: usize = text.trim().parse().map_err(|_| {
                refuse(
                    "inference-header-content-length",
                    format!("Inference-Header-Content-Length `{text}` is not a byte count"),
                )
            })?;
            if length > body.len() {
                return Err(refuse(
                    "inference-header-content-length",
                    format!(
                        "Inference-Header-Content-Length {length} exceeds the body's {} bytes",
                        body.len()
                    ),
                ));
            }
            Ok(body.split_at(length))
        }
    }
}

/// Every leaf of a (possibly nested) JSON array, in row-major order.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn element_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "INT8" | "UINT8" => 1,
        "INT16" | "UINT16" | "FP16" => 2,
        "INT32" | "UINT32" | "FP32" => 4,
        "INT64" | "UINT64" | "FP64" => 8,
        _ => return None,
    })
}

/// Reads `count` elements of `datatype` from binary data as JSON values.
fn decode_binary(
    at: &str,
    datatype: &str,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<Value>, ProtocolError> {
    // `count` was checked against the request's limit before this is called.
    let mut values = Vec::with_capacity(count);
    if datatype == "BYTES" {
        let mut rest = bytes;
        while rest.len() >= 4 {
            let (length, tail) = rest.split_at(4);
            let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
            if length > tail.len() {
                return Err(refuse(at, "a BYTES element runs past its binary data"));
            }
            let (element, tail) = tail.split_at(length);
            values.push(Value::String(String::from_utf8_lossy(element).into_owned()));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(refuse(at, "trailing bytes after the last BYTES element"));
        }
        return Ok(values);
    }
    let size = element_size(datatype).ok_or_else(|| {
        refuse(
            format!("{at}.datatype"),
            format!("unknown datatype `{datatype}`"),
        )
    })?;
    if bytes.len() != size * count {
        return Err(refuse(
            at,
            format!(
                "{} bytes of binary data for {count} {datatype} elements",
                bytes.len()
            ),
        ));
    }
    for chunk in bytes.chunks_exact(size) {
        let mut raw = [0_u8; 8];
        raw[..size].copy_from_slice(chunk);
        let value = match datatype {
            "BOOL" => Value::Bool(chunk[0] != 0),
            "INT8" => Value::from(i8::from_le_bytes([raw[0]])),
            "UINT8" => Value::from(raw[0]),
            "INT16" => Value::from(i16::from_le_bytes([raw[0], raw[1]])),
            "UINT16" => Value::from(u16::from_le_bytes([raw[0], raw[1]])),
            "INT32" => Value::from(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
            "UINT32" => Value::from(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
            "INT64" => Value::from(i64::from_le_bytes(raw)),
            "UINT64" => Value::from(u64::from_le_bytes(raw)),
            "FP32" => float(f64::from(f32::from_le_bytes([
                raw[0], raw[1], raw[2], raw[3],
            ]))),
            "FP64" => float(f64::from_le_bytes(raw)),
            _ => {
                return Err(refuse(
                    format!("{at}.datatype"),
                    format!("`{datatype}` is not supported"),
                ));
            }
        };
        values.push(value);
    }
    Ok(values)
}

/// A float as JSON; NaN and infinities (which JSON cannot hold) become a marker string that
/// validation then refuses by name.
fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Value::String(format!("{value}")), Value::Number)
}

/// One input's elements (from JSON or binary data), checked against its shape.
fn elements(
    index: usize,
    input: &RequestInput,
    binary: &mut &[u8],
    max_elements: usize,
) -> Result<(Vec<Value>, Vec<usize>), ProtocolError> {
    let at = format!("inputs[{index}]");
    let shape: Vec<usize> = input
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| refuse(format!("{at}.shape"), "dimensions must be non-negative"))?;
    let count = shape
        .iter()
        .try_fold(1_usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| refuse(format!("{at}.shape"), "the shape's element count overflows"))?;
    // Refused before anything is sized by it: the shape is the client's word.
    if count > max_elements {
        return Err(refuse(
            format!("{at}.shape"),
            format!("{count} elements in one tensor; at most {max_elements} per request"),
        ));
    }
    let binary_size = input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
        .map(|v| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    refuse(
                        format!("{at}.parameters.binary_data_size"),
                        "must be a byte count",
                    )
                })
        })
        .transpose()?;
    let values = match (binary_size, &input.data) {
        (Some(size), None) => {
            if size > binary.len() {
                return Err(refuse(
                    format!("{at}.parameters.binary_data_size"),
                    format!("{size} bytes announced, {} left in the body", binary.len()),
                ));
            }
            let (mine, rest) = binary.split_at(size);
            *binary = rest;
            decode_binary(&at, &input.datatype, mine, count)?
        }
        (None, Some(data)) => {
            let mut leaves = Vec::with_capacity(count);
            flatten(data, &mut leaves);
            leaves.into_iter().cloned().collect()
        }
        (Some(_), Some(_)) => {
            return Err(refuse(
                format!("{at}.data"),
                "give `data` or binary data, not both",
            ));
        }
        (None, None) => return Err(refuse(format!("{at}.data"), "missing `data`")),
    };
    if values.len() != count {
        return Err(refuse(
            format!("{at}.data"),
            format!(
                "{} elements for shape {:?} ({count} expected)",
                values.len(),
                input.shape
            ),
        ));
    }
    Ok((values, shape))
}

/// The rows a request describes, as feature vectors (row-major), at most `max_rows` rows.
pub fn decode_rows(
    request: &InferRequest,
    binary: &[u8],
    max_rows: usize,
) -> Result<Vec<f32>, ProtocolError> {
    if request.inputs.is_empty() {
        return Err(refuse("inputs", "at least one input tensor is needed"));
    }
    let mut binary = binary;
    let mut decoded = Vec::with_capacity(request.inputs.len());
    let max_elements = max_rows.saturating_mul(FEATURE_COUNT);
    for (index, input) in request.inputs.iter().enumerate() {
        decoded.push(elements(index, input, &mut binary, max_elements)?);
    }
    if !binary.is_empty() {
        return Err(refuse(
            "body",
            format!("{} bytes of binary data no input claims", binary.len()),
        ));
    }
    let rows = match request.inputs.as_slice() {
        [input] if input.name == INPUT => feature_tensor(input, &decoded[0], max_rows)?,
        [input] if input.datatype == "BYTES" => json_rows(&decoded[0], max_rows)?,
        _ => named_fields(request, &decoded, max_rows)?,
    };
    Ok(rows)
}

fn check_rows(rows: usize, max_rows: usize, at: &str) -> Result<(), ProtocolError> {
    if rows == 0 {
        return Err(refuse(at, "at least one row is needed"));
    }
    if rows > max_rows {
        return Err(refuse(
            at,
            format!("at most {max_rows} rows per request, got {rows}"),
        ));
    }
    Ok(())
}

fn feature_tensor(
    input: &RequestInput,
    (values, shape): &(Vec<Value>, Vec<usize>),
    max_rows: usize,
) -> Result<Vec<f32>, ProtocolError> {
    if !matches!(input.datatype.as_str(), "FP32" | "FP64") {
        return Err(refuse(
            "inputs[0].datatype",
            format!("`{INPUT}` must be FP32 (or FP64)"),
        ));
    }
    if shape.len() != 2 || shape[1] != FEATURE_COUNT {
        return Err(refuse(
            "inputs[0].shape",
            format!("`{INPUT}` must have shape [N, {FEATURE_COUNT}]"),
        ));
    }
    check_rows(shape[0], max_rows, "inputs[0].shape")?;
    let specs = Signature::current().features;
    let mut rows = Vec::with_capacity(values.len());
    for (position, value) in values.iter().enumerate() {
        let at = format!("inputs[0].data[{position}]");
        let number = value
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| refuse(&at, "must be a finite number"))?;
        let spec = &specs[position % FEATURE_COUNT];
        if number < spec.min || number > spec.max {
            return Err(refuse(
                at,
                format!(
                    "feature `{}` must be within {}..={}, got {number}",
                    spec.name, spec.min, spec.max
                ),
            ));
        }
        rows.push(number as f32);
    }
    Ok(rows)
}

fn features_of(request: &DemandRequest, at: &str) -> Result<[f32; FEATURE_COUNT], ProtocolError> {
    velocast_features::features(request).map_err(|errors| {
        let (field, rule) = velocast_config::broken_rules(&errors)
            .first()
            .map(|(field, error)| (field.clone(), velocast_config::rule_text(error)))
            .unwrap_or_else(|| (String::new(), errors.to_string()));
        refuse(format!("{at}.{field}"), format!("{at}.{field}: {rule}"))
    })
}

fn parse_request(object: Value, at: &str) -> Result<DemandRequest, ProtocolError> {
    serde_json::from_value::<DemandRequest>(object)
        .map_err(|error| refuse(at, format!("{at}: {error}")))
}

fn json_rows(
    (values, shape): &(Vec<Value>, Vec<usize>),
    max_rows: usize,
) -> Result<Vec<f32>, ProtocolError> {
    check_rows(
        shape.first().copied().unwrap_or(0),
        max_rows,
        "inputs[0].shape",
    )?;
    let mut rows = Vec::with_capacity(values.len() * FEATURE_COUNT);
    for (index, value) in values.iter().enumerate() {
        let at = format!("inputs[0].data[{index}]");
        let text = value
            .as_str()
            .ok_or_else(|| refuse(&at, "must be a JSON object as a string"))?;
        let object: Value =
            serde_json::from_str(text).map_err(|e| refuse(&at, format!("{at}: not JSON: {e}")))?;
        rows.extend_from_slice(&features_of(&parse_request(object, &at)?, &at)?);
    }
    Ok(rows)
}

fn named_fields(
    request: &InferRequest,
    decoded: &[(Vec<Value>, Vec<usize>)],
    max_rows: usize,
) -> Result<Vec<f32>, ProtocolError> {
    let mut columns: Vec<Option<&Vec<Value>>> = vec![None; FIELDS.len()];
    let mut rows = None;
    for (index, (input, (values, shape))) in request.inputs.iter().zip(decoded).enumerate() {
        let at = format!("inputs[{index}]");
        let Some(position) = FIELDS.iter().position(|f| *f == input.name) else {
            return Err(refuse(
                format!("{at}.name"),
                format!(
                    "unknown input `{}`: give `{INPUT}` [N, {FEATURE_COUNT}], one BYTES tensor of JSON requests, or the fields {}",
                    input.name,
                    FIELDS.join(", ")
                ),
            ));
        };
        if columns[position].is_some() {
            return Err(refuse(
                format!("{at}.name"),
                format!("`{}` is given twice", input.name),
            ));
        }
        let n = match shape.as_slice() {
            [n] | [n, 1] => *n,
            _ => {
                return Err(refuse(
                    format!("{at}.shape"),
                    "a field's shape is [N] or [N, 1]",
                ));
            }
        };
        if *rows.get_or_insert(n) != n {
            return Err(refuse(
                format!("{at}.shape"),
                "every field needs the same number of rows",
            ));
        }
        columns[position] = Some(values);
    }
    let rows = rows.unwrap_or(0);
    check_rows(rows, max_rows, "inputs")?;
    let mut features = Vec::with_capacity(rows * FEATURE_COUNT);
    for row in 0..rows {
        let mut object = Map::new();
        for (position, field) in FIELDS.iter().enumerate() {
            let column = columns[position]
                .ok_or_else(|| refuse("inputs", format!("missing input `{field}`")))?;
            let mut value = column[row].clone();
            // BOOL tensors may arrive as 0/1 in JSON; the request wants true/false.
            if *field == "holiday"
                && let Some(flag) = value.as_u64().filter(|v| *v <= 1)
            {
                value = Value::Bool(flag == 1);
            }
            object.insert((*field).to_owned(), value);
        }
        let at = format!("row {row}");
        features.extend_from_slice(&features_of(
            &parse_request(Value::Object(object), &at)?,
            &at,
        )?);
    }
    Ok(features)
}

/// Whether the outputs are to be sent as binary data.
pub fn binary_output(request: &InferRequest) -> bool {
    let flag = |parameters: &Option<Map<String, Value>>, key: &str| {
        parameters
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_bool)
    };
    request
        .outputs
        .as_ref()
        .and_then(|outputs| {
            outputs
                .iter()
                .find_map(|o| flag(&o.parameters, "binary_data"))
        })
        .or_else(|| flag(&request.parameters, "binary_data_output"))
        .unwrap_or(false)
}

/// Checks the requested outputs name only what the model has.
pub fn check_outputs(request: &InferRequest) -> Result<(), ProtocolError> {
    for (index, output) in request.outputs.iter().flatten().enumerate() {
        if output.name != OUTPUT {
            return Err(refuse(
                format!("outputs[{index}].name"),
                format!("unknown output `{}`: the model has `{OUTPUT}`", output.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: Value) -> InferRequest {
        serde_json::from_value(value).unwrap()
    }

    const HOUR: [f64; FEATURE_COUNT] = [
        4.0, 1.0, 10.0, 8.0, 0.0, 1.0, 1.0, 1.0, 0.44, 0.36, 0.6, 0.15, 32.0, 1.0, 275.0,
    ];

    #[test]
    fn the_feature_tensor_flat_or_nested() {
        let flat_data: Vec<f64> = [HOUR, HOUR].concat();
        let flat = request(
            json!({"inputs": [{"name": "features", "shape": [2, 15], "datatype": "FP32",
            "data": flat_data}]}),
        );
        let rows = decode_rows(&flat, &[], 8).unwrap();
        assert_eq!(rows.len(), 30);
        let nested = request(
            json!({"inputs": [{"name": "features", "shape": [2, 15], "datatype": "FP32",
            "data": [HOUR, HOUR]}]}),
        );
        assert_eq!(decode_rows(&nested, &[], 8).unwrap(), rows);
        let mut bad = HOUR;
        bad[10] = 1.5;
        let error = decode_rows(
            &request(json!({"inputs": [{"name": "features", "shape": [1, 15], "datatype": "FP32", "data": bad}]})),
            &[],
            8,
        )
        .unwrap_err();
        assert_eq!(error.field, "inputs[0].data[10]");
        assert!(error.message.contains("`hum`"), "{}", error.message);
        let error = decode_rows(
            &request(json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32", "data": &HOUR[..14]}]})),
            &[],
            8,
        )
        .unwrap_err();
        assert_eq!(error.field, "inputs[0].shape");
    }

    #[test]
    fn named_fields_and_json_rows_give_the_v1_features() {
        let hour = json!({"timestamp": "2012-10-01T08:00:00", "weather": 1, "temperature_c": 18.0,
            "feels_like_c": 18.0, "humidity_pct": 60.0, "wind_speed_kmh": 10.0, "holiday": false});
        let expected =
            velocast_features::features(&serde_json::from_value(hour.clone()).unwrap()).unwrap();
        let columns = request(json!({"inputs": [
            {"name": "timestamp", "shape": [1], "datatype": "BYTES", "data": ["2012-10-01T08:00:00"]},
            {"name": "weather", "shape": [1], "datatype": "INT32", "data": [1]},
            {"name": "temperature_c", "shape": [1], "datatype": "FP32", "data": [18.0]},
            {"name": "feels_like_c", "shape": [1], "datatype": "FP32", "data": [18.0]},
            {"name": "humidity_pct", "shape": [1], "datatype": "FP32", "data": [60.0]},
            {"name": "wind_speed_kmh", "shape": [1, 1], "datatype": "FP32", "data": [[10.0]]},
            {"name": "holiday", "shape": [1], "datatype": "BOOL", "data": [false]},
        ]}));
        assert_eq!(decode_rows(&columns, &[], 8).unwrap(), expected.to_vec());
        let as_json = request(
            json!({"inputs": [{"name": "instances", "shape": [1], "datatype": "BYTES",
            "data": [hour.to_string()]}]}),
        );
        assert_eq!(decode_rows(&as_json, &[], 8).unwrap(), expected.to_vec());

        let mut missing = columns.clone();
        missing.inputs.pop();
        assert!(
            decode_rows(&missing, &[], 8)
                .unwrap_err()
                .message
                .contains("missing input `holiday`")
        );
        let mut wet = columns.clone();
        wet.inputs[4].data = Some(json!([160.0]));
        let error = decode_rows(&wet, &[], 8).unwrap_err();
        assert_eq!(error.field, "row 0.humidity_pct");
        assert!(
            error.message.contains("must be within 0..=100"),
            "{}",
            error.message
        );
    }

    #[test]
    fn binary_tensor_data_is_read_after_the_json_header() {
        let mut body =
            serde_json::to_vec(&json!({"inputs": [{"name": "features", "shape": [1, 15],
            "datatype": "FP32", "parameters": {"binary_data_size": 60}}]}))
            .unwrap();
        let header = body.len();
        for value in HOUR {
            body.extend_from_slice(&(value as f32).to_le_bytes());
        }
        let (json_part, binary) = split_binary(&body, Some(&header.to_string())).unwrap();
        let request: InferRequest = serde_json::from_slice(json_part).unwrap();
        let rows = decode_rows(&request, binary, 8).unwrap();
        assert_eq!(rows, HOUR.map(|v| v as f32).to_vec());
        // Too few bytes, or bytes no input claims.
        assert!(decode_rows(&request, &binary[..56], 8).is_err());
        let mut extra = binary.to_vec();
        extra.push(0);
        assert_eq!(decode_rows(&request, &extra, 8).unwrap_err().field, "body");
        assert!(split_binary(&body, Some("nope")).is_err());
        assert!(split_binary(&body, Some("100000")).is_err());
    }

    #[test]
    fn huge_shapes_are_refused_before_anything_is_sized_by_them() {
        for shape in [
            json!([9_223_372_036_854_775_806_i64]),
            json!([4_294_967_296_i64, 4_294_967_296_i64]),
            json!([1025, 15]),
        ] {
            let huge = request(
                json!({"inputs": [{"name": "features", "shape": shape, "datatype": "FP32", "data": []}]}),
            );
            let error = decode_rows(&huge, &[], 1024).unwrap_err();
            assert_eq!(error.field, "inputs[0].shape", "{shape}");
        }
    }

    #[test]
    fn outputs_and_row_limits() {
        let too_many = request(
            json!({"inputs": [{"name": "features", "shape": [3, 15], "datatype": "FP32",
            "data": [HOUR, HOUR, HOUR]}]}),
        );
        let error = decode_rows(&too_many, &[], 2).unwrap_err();
        assert!(
            error.message.contains("at most 30 per request"),
            "{}",
            error.message
        );
        let columns = request(
            json!({"inputs": [{"name": "weather", "shape": [3], "datatype": "INT32", "data": [1, 1, 1]}]}),
        );
        let error = decode_rows(&columns, &[], 2).unwrap_err();
        assert!(
            error.message.contains("at most 2 rows"),
            "{}",
            error.message
        );
        let unknown = request(json!({"inputs": [], "outputs": [{"name": "probabilities"}]}));
        assert_eq!(
            check_outputs(&unknown).unwrap_err().field,
            "outputs[0].name"
        );
        let binary = request(
            json!({"inputs": [], "outputs": [{"name": "demand", "parameters": {"binary_data": true}}]}),
        );
        assert!(binary_output(&binary));
        assert!(!binary_output(&unknown));
    }
}
