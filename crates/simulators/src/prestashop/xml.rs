//! PrestaShop's two renderings of a resource: the XML of the webservice (default) and the JSON
//! of `output_format=JSON`. Resources are held in their JSON shape (ids as numbers, every other
//! scalar as text, multilingual fields as `[{"id":"1","value":…}]`, `associations` as lists of
//! objects); this module writes that shape as PrestaShop's XML and reads PrestaShop XML back.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

/// Namespace declared on every `<prestashop>` root.
pub(crate) const XLINK: &str = "http://www.w3.org/1999/xlink";

/// Singular element name of a resource list or an association list.
pub(crate) fn singular(plural: &str) -> String {
    match plural {
        "addresses" => "address".into(),
        "order_histories" => "order_history".into(),
        "categories" => "category".into(),
        p if p.ends_with('s') => p[..p.len() - 1].to_string(),
        p => p.to_string(),
    }
}

fn is_language_list(v: &[Value]) -> bool {
    !v.is_empty()
        && v.iter().all(|x| {
            x.as_object()
                .is_some_and(|o| o.len() == 2 && o.contains_key("id") && o.contains_key("value"))
        })
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Writes into memory: `write_event` on a `Vec<u8>` cannot fail, so its result is dropped.
type W = Writer<Vec<u8>>;

fn text(w: &mut W, s: &str) {
    // PrestaShop wraps values in CDATA; text holding the CDATA terminator is escaped instead.
    let _ = if s.contains("]]>") {
        w.write_event(Event::Text(BytesText::new(s)))
    } else {
        w.write_event(Event::CData(BytesCData::new(s)))
    };
}

fn start(w: &mut W, e: BytesStart<'_>) {
    let _ = w.write_event(Event::Start(e));
}

fn end(w: &mut W, name: &str) {
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

fn field(w: &mut W, name: &str, v: &Value) {
    match v {
        Value::Array(items) if is_language_list(items) => {
            start(w, BytesStart::new(name));
            for l in items {
                let id = scalar_text(&l["id"]);
                let mut e = BytesStart::new("language");
                e.push_attribute(("id", id.as_str()));
                start(w, e);
                text(w, &scalar_text(&l["value"]));
                end(w, "language");
            }
            end(w, name);
        }
        Value::Object(o) if name == "associations" => {
            start(w, BytesStart::new(name));
            for (list, items) in o {
                let one = singular(list);
                let mut e = BytesStart::new(list.as_str());
                e.push_attribute(("nodeType", one.as_str()));
                e.push_attribute(("api", list.as_str()));
                start(w, e);
                for item in items.as_array().into_iter().flatten() {
                    start(w, BytesStart::new(one.as_str()));
                    for (k, v) in item.as_object().into_iter().flatten() {
                        field(w, k, v);
                    }
                    end(w, &one);
                }
                end(w, list);
            }
            end(w, name);
        }
        Value::Object(o) => {
            start(w, BytesStart::new(name));
            for (k, v) in o {
                field(w, k, v);
            }
            end(w, name);
        }
        other => {
            start(w, BytesStart::new(name));
            text(w, &scalar_text(other));
            end(w, name);
        }
    }
}

fn document(body: impl FnOnce(&mut W)) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let mut root = BytesStart::new("prestashop");
    root.push_attribute(("xmlns:xlink", XLINK));
    start(&mut w, root);
    body(&mut w);
    end(&mut w, "prestashop");
    w.into_inner()
}

/// `<prestashop><{name}>…</{name}></prestashop>` of one resource.
pub(crate) fn one(name: &str, v: &Value) -> Vec<u8> {
    document(|w| field(w, name, v))
}

/// A list: full resources, or (`links`) `<product id="1" xlink:href="…"/>` entries.
pub(crate) fn list(plural: &str, items: &[Value], links: Option<&str>) -> Vec<u8> {
    let one = singular(plural);
    document(|w| {
        start(w, BytesStart::new(plural));
        for item in items {
            match links {
                Some(base) => {
                    let id = scalar_text(&item["id"]);
                    let href = format!("{base}/{plural}/{id}");
                    let mut e = BytesStart::new(one.as_str());
                    e.push_attribute(("id", id.as_str()));
                    e.push_attribute(("xlink:href", href.as_str()));
                    let _ = w.write_event(Event::Empty(e));
                }
                None => field(w, &one, item),
            }
        }
        end(w, plural);
    })
}

/// PrestaShop's error document.
pub(crate) fn errors(code: u32, message: &str) -> Vec<u8> {
    document(|w| {
        start(w, BytesStart::new("errors"));
        start(w, BytesStart::new("error"));
        start(w, BytesStart::new("code"));
        text(w, &code.to_string());
        end(w, "code");
        start(w, BytesStart::new("message"));
        text(w, message);
        end(w, "message");
        end(w, "error");
        end(w, "errors");
    })
}

#[derive(Debug, Default)]
struct Node {
    name: String,
    id_attr: Option<String>,
    children: Vec<Node>,
    text: String,
}

fn to_value(n: &Node) -> Value {
    if !n.children.is_empty() && n.children.iter().all(|c| c.name == "language") {
        return Value::Array(
            n.children
                .iter()
                .map(|c| {
                    let mut o = Map::new();
                    o.insert(
                        "id".into(),
                        Value::String(c.id_attr.clone().unwrap_or_default()),
                    );
                    o.insert("value".into(), Value::String(c.text.clone()));
                    Value::Object(o)
                })
                .collect(),
        );
    }
    if n.name == "associations" {
        let mut o = Map::new();
        for list in &n.children {
            let items = list.children.iter().map(to_value).collect();
            o.insert(list.name.clone(), Value::Array(items));
        }
        return Value::Object(o);
    }
    if n.children.is_empty() {
        return Value::String(n.text.clone());
    }
    let mut o = Map::new();
    for c in &n.children {
        o.insert(c.name.clone(), to_value(c));
    }
    Value::Object(o)
}

/// Reads `<prestashop><{resource}>…</{resource}></prestashop>`: the resource's element name and
/// its JSON shape.
pub(crate) fn parse(body: &[u8]) -> Result<(String, Value), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the XML is not UTF-8".to_string())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("XML error at {}: {e}", reader.buffer_position())),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                stack.push(node_of(&e)?);
            }
            Ok(Event::Empty(e)) => {
                let n = node_of(&e)?;
                if let Some(top) = stack.last_mut() {
                    top.children.push(n);
                }
            }
            Ok(Event::End(_)) => {
                let n = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(top) => top.children.push(n),
                    None => return Err("unbalanced XML".into()),
                }
            }
            Ok(Event::Text(t)) => {
                let s = t.unescape().map_err(|e| format!("XML text: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(Event::CData(t)) => {
                let s = String::from_utf8_lossy(&t.into_inner()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced XML".into());
    }
    let doc = stack.pop().unwrap_or_default();
    let root = doc
        .children
        .into_iter()
        .next()
        .filter(|r| r.name == "prestashop")
        .ok_or("the root element must be <prestashop>")?;
    let res = root
        .children
        .into_iter()
        .next()
        .ok_or("<prestashop> holds no resource")?;
    let v = to_value(&res);
    Ok((res.name, v))
}

fn node_of(e: &BytesStart<'_>) -> Result<Node, String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut id_attr = None;
    for a in e.attributes() {
        let a = a.map_err(|e| format!("XML attribute: {e}"))?;
        if a.key.as_ref() == b"id" {
            id_attr = Some(
                a.unescape_value()
                    .map_err(|e| format!("XML attribute: {e}"))?
                    .into_owned(),
            );
        }
    }
    Ok(Node {
        name,
        id_attr,
        ..Node::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_a_product() {
        let p = json!({
            "id": 3,
            "reference": "HOOD-1",
            "name": [{"id": "1", "value": "Hoodie & co ]]> x"}],
            "associations": {"categories": [{"id": "2"}, {"id": "5"}]},
        });
        let xml = one("product", &p);
        let text = String::from_utf8(xml.clone()).unwrap_or_default();
        assert!(text.contains("<language id=\"1\">"), "{text}");
        assert!(text.contains("nodeType=\"category\""), "{text}");
        let (name, back) = parse(&xml).expect("parses");
        assert_eq!(name, "product");
        assert_eq!(back["reference"], "HOOD-1");
        assert_eq!(back["id"], "3");
        assert_eq!(back["name"][0]["value"], "Hoodie & co ]]> x");
        assert_eq!(back["associations"]["categories"][1]["id"], "5");
    }
}
