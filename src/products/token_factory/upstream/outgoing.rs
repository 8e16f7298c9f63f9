//! A request body on its way upstream. It is encoded anew for each endpoint tried (each
//! names its own upstream model), where `offload` put the parse of the client's body.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Failure;
use crate::products::token_factory::offload;

/// The fields to send, and the size of the client's body they came from.
pub struct Outgoing {
    fields: Arc<Map<String, Value>>,
    received: usize,
}

impl Outgoing {
    /// `fields`, parsed from a client body of `received` bytes.
    pub fn new(fields: Map<String, Value>, received: usize) -> Outgoing {
        Outgoing {
            fields: Arc::new(fields),
            received,
        }
    }

    /// The fields, as the demo provider reads them.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// Names `model` as the one the upstream is asked for.
    pub fn name_model(&mut self, model: &str) {
        // Unshared by now (an encoding's copy is dropped before it answers), so no copy.
        Arc::make_mut(&mut self.fields).insert("model".into(), Value::String(model.to_owned()));
    }

    /// The JSON to send.
    pub async fn encoded(&self) -> Result<Vec<u8>, Failure> {
        let fields = Arc::clone(&self.fields);
        let lost = || Err(Failure::Connect("the request could not be encoded".into()));
        offload::sized(self.received, move || encode(&fields), lost).await
    }
}

fn encode(fields: &Map<String, Value>) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(fields).map_err(|err| Failure::Connect(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("input".into(), Value::String(text.to_owned()));
        fields
    }

    #[tokio::test]
    async fn each_endpoint_gets_its_own_model_name_small_or_large() -> Result<(), String> {
        let large = "x".repeat(offload::INLINE_BYTES + 1);
        for (text, received) in [("hi", 20), (large.as_str(), large.len() + 20)] {
            let mut out = Outgoing::new(fields(text), received);
            for model in ["first-upstream", "fallback-upstream"] {
                out.name_model(model);
                let sent: Value =
                    serde_json::from_slice(&out.encoded().await.map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                assert_eq!(
                    (sent["model"].as_str(), sent["input"].as_str()),
                    (Some(model), Some(text))
                );
            }
        }
        Ok(())
    }
}
