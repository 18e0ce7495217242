//! Product type definitions: the JSON Schema of a product type (getDefinitionsProductType, then
//! the schema document its link names), compiled with `boon` and checked against a listing's
//! attributes; each violation is a listing error `SCHEMA_VALIDATION`.

use boon::{Compiler, Draft, SchemaIndex, Schemas, ValidationError};
use marketsync_proto::v1::ListingError;
use serde_json::Value;

use crate::{ConnectorError, Result};

/// Code of the listing errors found by schema validation.
pub const SCHEMA_VALIDATION: &str = "SCHEMA_VALIDATION";
/// Violations reported at most per listing.
const MAX_VIOLATIONS: usize = 20;

/// A compiled product type schema.
pub struct ProductTypeSchema {
    schemas: Schemas,
    index: SchemaIndex,
}

impl std::fmt::Debug for ProductTypeSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductTypeSchema").finish_non_exhaustive()
    }
}

impl ProductTypeSchema {
    /// Compiles a product type schema. Amazon's schemas name Amazon's meta-schema (draft
    /// 2019-09 plus vocabulary keywords such as `selectors` and `editable`, which only annotate):
    /// any `$schema` that is not a json-schema.org draft is replaced by draft 2019-09.
    pub fn compile(product_type: &str, mut schema: Value) -> Result<Self> {
        if let Some(obj) = schema.as_object_mut() {
            let standard = obj
                .get("$schema")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains("json-schema.org"));
            if !standard {
                obj.insert(
                    "$schema".into(),
                    Value::String("https://json-schema.org/draft/2019-09/schema".into()),
                );
            }
        }
        let url = format!("urn:marketsync:amazon:product-type:{product_type}");
        let mut compiler = Compiler::new();
        compiler.set_default_draft(Draft::V2019_09);
        let bad = |e: &dyn std::fmt::Display| {
            ConnectorError::Malformed(format!("product type {product_type} schema: {e}"))
        };
        compiler.add_resource(&url, schema).map_err(|e| bad(&e))?;
        let mut schemas = Schemas::new();
        let index = compiler.compile(&url, &mut schemas).map_err(|e| bad(&e))?;
        Ok(Self { schemas, index })
    }

    /// The violations of `attributes` (a listing's `attributes` object) as listing errors.
    pub fn check(&self, attributes: &Value) -> Vec<ListingError> {
        match self.schemas.validate(attributes, self.index) {
            Ok(()) => Vec::new(),
            Err(e) => {
                let mut out = Vec::new();
                leaves(&e, &mut out);
                out.truncate(MAX_VIOLATIONS);
                out
            }
        }
    }
}

/// The innermost errors (those without causes), each as a listing error.
fn leaves(e: &ValidationError<'_, '_>, out: &mut Vec<ListingError>) {
    if e.causes.is_empty() {
        let location = e.instance_location.to_string();
        let field = location
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let at = if location.is_empty() {
            "/".into()
        } else {
            location
        };
        out.push(ListingError {
            code: SCHEMA_VALIDATION.into(),
            message: format!("{at}: {}", e.kind),
            field,
            severity: "error".into(),
        });
        return;
    }
    for c in &e.causes {
        leaves(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_become_listing_errors() {
        let schema = json!({
            "$schema": "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1",
            "type": "object",
            "required": ["brand"],
            "properties": {
                "item_name": {"type": "array", "items": {"type": "object", "selectors": ["marketplace_id"],
                    "properties": {"value": {"type": "string", "maxLength": 5}}}},
            },
        });
        let s = ProductTypeSchema::compile("TEST", schema).unwrap_or_else(|e| panic!("{e}"));
        let errors = s.check(&json!({"item_name": [{"value": "far too long"}]}));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|e| e.code == SCHEMA_VALIDATION && e.severity == "error")
        );
        assert!(errors.iter().any(|e| e.field == "item_name"));
        assert!(
            s.check(&json!({"brand": [], "item_name": [{"value": "ok"}]}))
                .is_empty()
        );
    }
}
