//! A small GraphQL reader: the operation's selection tree with arguments resolved against the
//! variables, and Shopify's requested query cost of it (scalars 0, objects 1, connections
//! 2 + `first` × the cost of one node, mutations 10), with the documented input limits
//! (`first`/`last` ≤ 250, input arrays ≤ 250 elements).

use serde_json::{Map, Value, json};

/// One selected field (or inline fragment, named `...`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Field {
    /// Field name (not the alias).
    pub name: String,
    /// Alias, if any.
    pub alias: Option<String>,
    /// Arguments with variables substituted.
    pub args: Map<String, Value>,
    /// Sub-selection.
    pub children: Vec<Field>,
}

impl Field {
    /// The response key: the alias or the name.
    pub(crate) fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// A child field by name (inline fragments are looked through).
    pub(crate) fn child(&self, name: &str) -> Option<&Field> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else if c.name == "..." {
                c.child(name)
            } else {
                None
            }
        })
    }

    /// An integer argument.
    pub(crate) fn int_arg(&self, name: &str) -> Option<i64> {
        self.args.get(name).and_then(Value::as_i64)
    }

    /// A string argument.
    pub(crate) fn str_arg(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Value::as_str)
    }
}

/// A parsed operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    /// `query` or `mutation`.
    pub kind: String,
    /// Operation name, if any.
    pub name: Option<String>,
    /// Root fields.
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' || c == '\u{feff}' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '.' {
            if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                out.push(Tok::Spread);
                i += 3;
            } else {
                return Err("unexpected `.`".into());
            }
        } else if "{}()[]:!$@=|&".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else if c == '"' {
            if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                i += 3;
                let start = i;
                while i + 2 < chars.len()
                    && !(chars[i] == '"' && chars[i + 1] == '"' && chars[i + 2] == '"')
                {
                    i += 1;
                }
                out.push(Tok::Str(chars[start..i].iter().collect()));
                i += 3;
            } else {
                i += 1;
                let mut s = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                        s.push(match chars[i] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        s.push(chars[i]);
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
        } else if c == '-' || c.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || "eE.+-".contains(chars[i])) {
                i += 1;
            }
            let t: String = chars[start..i].iter().collect();
            if let Ok(n) = t.parse::<i64>() {
                out.push(Tok::Int(n));
            } else {
                out.push(Tok::Float(
                    t.parse().map_err(|_| format!("bad number `{t}`"))?,
                ));
            }
        } else if c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a Value,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| "unexpected end of document".to_string())?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            other => Err(format!("expected `{c}`, found {other:?}")),
        }
    }

    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// Skips a balanced `(…)` group (variable definitions).
    fn skip_group(&mut self, open: char, close: char) -> Result<(), String> {
        self.expect(open)?;
        let mut depth = 1;
        while depth > 0 {
            match self.next()? {
                Tok::Punct(c) if c == open => depth += 1,
                Tok::Punct(c) if c == close => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn directives(&mut self) -> Result<(), String> {
        while self.is('@') {
            self.next()?;
            self.name()?;
            if self.is('(') {
                self.skip_group('(', ')')?;
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.next()? {
            Tok::Punct('$') => {
                let n = self.name()?;
                Ok(self.vars.get(&n).cloned().unwrap_or(Value::Null))
            }
            Tok::Int(n) => Ok(json!(n)),
            Tok::Float(f) => Ok(json!(f)),
            Tok::Str(s) => Ok(Value::String(s)),
            Tok::Name(n) => Ok(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            }),
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.is(']') {
                    items.push(self.value()?);
                }
                self.next()?;
                Ok(Value::Array(items))
            }
            Tok::Punct('{') => {
                let mut obj = Map::new();
                while !self.is('}') {
                    let k = self.name()?;
                    self.expect(':')?;
                    obj.insert(k, self.value()?);
                }
                self.next()?;
                Ok(Value::Object(obj))
            }
            other => Err(format!("unexpected {other:?} in a value")),
        }
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut out = Vec::new();
        while !self.is('}') {
            if self.peek() == Some(&Tok::Spread) {
                self.next()?;
                if self.peek() == Some(&Tok::Name("on".into())) {
                    self.next()?;
                    self.name()?;
                }
                self.directives()?;
                if self.is('{') {
                    out.push(Field {
                        name: "...".into(),
                        children: self.selection_set()?,
                        ..Field::default()
                    });
                } else {
                    return Err("named fragments are not supported by the simulator".into());
                }
                continue;
            }
            let first = self.name()?;
            let (alias, name) = if self.is(':') {
                self.next()?;
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            let mut args = Map::new();
            if self.is('(') {
                self.next()?;
                while !self.is(')') {
                    let k = self.name()?;
                    self.expect(':')?;
                    args.insert(k, self.value()?);
                }
                self.next()?;
            }
            self.directives()?;
            let children = if self.is('{') {
                self.selection_set()?
            } else {
                Vec::new()
            };
            out.push(Field {
                name,
                alias,
                args,
                children,
            });
        }
        self.next()?;
        Ok(out)
    }
}

/// Parses the (first) operation of `query`.
pub(crate) fn parse(query: &str, variables: &Value) -> Result<Parsed, String> {
    let toks = tokenize(query)?;
    let mut p = Parser {
        toks,
        pos: 0,
        vars: variables,
    };
    let mut parsed = Parsed {
        kind: "query".into(),
        ..Parsed::default()
    };
    if let Some(Tok::Name(k)) = p.peek().cloned() {
        if k != "query" && k != "mutation" {
            return Err(format!("unsupported definition `{k}`"));
        }
        p.next()?;
        parsed.kind = k;
        if let Some(Tok::Name(n)) = p.peek().cloned() {
            p.next()?;
            parsed.name = Some(n);
        }
        if p.is('(') {
            p.skip_group('(', ')')?;
        }
        p.directives()?;
    }
    parsed.fields = p.selection_set()?;
    Ok(parsed)
}

fn field_cost(f: &Field, max_page: usize) -> Result<u32, Value> {
    if f.name == "..." {
        let mut sum = 0;
        for c in &f.children {
            sum += field_cost(c, max_page)?;
        }
        return Ok(sum);
    }
    if f.children.is_empty() {
        return Ok(0);
    }
    let size = f.int_arg("first").or_else(|| f.int_arg("last"));
    if let Some(n) = size {
        if n < 0 || n as usize > max_page {
            return Err(json!({
                "message": format!("The maximum page size is {max_page}, `{}` asked for {n}.", f.name),
                "extensions": {"code": "BAD_REQUEST"}
            }));
        }
        let mut node = 0;
        for c in &f.children {
            match c.name.as_str() {
                "pageInfo" => {}
                "nodes" => node += object_cost(&c.children, max_page)?,
                "edges" => {
                    for e in &c.children {
                        if e.name == "node" {
                            node += object_cost(&e.children, max_page)?;
                        }
                    }
                }
                _ => node += field_cost(c, max_page)?,
            }
        }
        return Ok(2 + n as u32 * node);
    }
    object_cost(&f.children, max_page)
}

fn object_cost(children: &[Field], max_page: usize) -> Result<u32, Value> {
    let mut sum = 1;
    for c in children {
        sum += field_cost(c, max_page)?;
    }
    Ok(sum)
}

fn check_arrays(v: &Value, max: usize) -> Result<(), Value> {
    match v {
        Value::Array(a) => {
            if a.len() > max {
                return Err(json!({
                    "message": format!("The input array size of {} is greater than the maximum allowed of {max}.", a.len()),
                    "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"}
                }));
            }
            a.iter().try_for_each(|x| check_arrays(x, max))
        }
        Value::Object(o) => o.values().try_for_each(|x| check_arrays(x, max)),
        _ => Ok(()),
    }
}

/// The requested cost of `query`, or the GraphQL error Shopify answers for it.
pub(crate) fn requested_cost(
    query: &str,
    variables: &Value,
    max_page: usize,
) -> Result<u32, Value> {
    check_arrays(variables, max_page)?;
    let parsed = parse(query, variables).map_err(
        |e| json!({"message": format!("Parse error: {e}"), "extensions": {"code": "PARSE_ERROR"}}),
    )?;
    if parsed.kind == "mutation" {
        return Ok(10 * parsed.fields.len().max(1) as u32);
    }
    let mut sum = 0;
    for f in &parsed.fields {
        sum += field_cost(f, max_page)?;
    }
    Ok(sum.max(1))
}

fn actual_field(f: &Field, data: &Value) -> u32 {
    if f.name == "..." {
        return actual_object(&f.children, data) - 1;
    }
    let v = data.get(f.key()).unwrap_or(&Value::Null);
    if f.children.is_empty() || v.is_null() {
        return 0;
    }
    let paged = f.int_arg("first").or_else(|| f.int_arg("last")).is_some();
    if paged {
        if let Value::Array(items) = v {
            return 2 + items
                .iter()
                .map(|i| actual_object(&f.children, i) - 1)
                .sum::<u32>();
        }
        let mut nodes = 0;
        for c in &f.children {
            match c.name.as_str() {
                "nodes" => {
                    for n in v[c.key()].as_array().into_iter().flatten() {
                        nodes += actual_object(&c.children, n);
                    }
                }
                "edges" => {
                    for e in v[c.key()].as_array().into_iter().flatten() {
                        for n in &c.children {
                            if n.name == "node" {
                                nodes += actual_object(&n.children, &e[n.key()]);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        return 2 + nodes;
    }
    match v {
        Value::Array(items) => actual_object(&f.children, items.first().unwrap_or(&Value::Null)),
        other => actual_object(&f.children, other),
    }
}

fn actual_object(children: &[Field], data: &Value) -> u32 {
    1 + children.iter().map(|c| actual_field(c, data)).sum::<u32>()
}

/// The actual cost of an answered query: connections count the nodes they returned, not the
/// nodes they asked for (Shopify refunds the difference to the bucket). Mutations cost 10.
pub(crate) fn actual_cost(query: &str, variables: &Value, data: &Value) -> u32 {
    let Ok(parsed) = parse(query, variables) else {
        return 1;
    };
    if parsed.kind == "mutation" {
        return 10 * parsed.fields.len().max(1) as u32;
    }
    parsed
        .fields
        .iter()
        .map(|f| actual_field(f, data))
        .sum::<u32>()
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_shopify_rules() {
        let q = "query P($n: Int!) { products(first: $n) { pageInfo { hasNextPage } nodes { id title variants(first: 10) { nodes { id inventoryItem { id } } } } } }";
        // 2 + 5 × (1 + (2 + 10 × (1 + 1)))
        assert_eq!(
            requested_cost(q, &json!({"n": 5}), 250).ok(),
            Some(2 + 5 * 23)
        );
        assert!(requested_cost(q, &json!({"n": 251}), 250).is_err());
        let m = "mutation { productUpdate(product: {id: \"x\"}) { userErrors { message } } }";
        assert_eq!(requested_cost(m, &json!({}), 250).ok(), Some(10));
        let big = json!({"q": (0..251).collect::<Vec<_>>()});
        assert!(requested_cost(m, &big, 250).is_err());
    }

    #[test]
    fn actual_cost_counts_returned_nodes() {
        let q = "query P($n: Int!) { products(first: $n) { nodes { id variants(first: 10) { nodes { id } } } } }";
        let data =
            json!({"products": {"nodes": [{"id": "a", "variants": {"nodes": [{"id": "v"}]}}]}});
        // 2 + 1 × (1 + (2 + 1 × 1))
        assert_eq!(actual_cost(q, &json!({"n": 5}), &data), 6);
    }

    #[test]
    fn parses_aliases_fragments_and_args() {
        let q = r#"query X { a: metafield(namespace: "custom", key: "sku") { value } node(id: "g") { ... on BulkOperation { id } } }"#;
        let p = parse(q, &json!({})).expect("parses");
        assert_eq!(p.name.as_deref(), Some("X"));
        assert_eq!(p.fields[0].key(), "a");
        assert_eq!(p.fields[0].str_arg("namespace"), Some("custom"));
        assert!(p.fields[1].child("id").is_some());
    }
}
