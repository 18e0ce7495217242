//! PrestaShop: the shop's webservice (`{store_url}/api/...`).
//!
//! Auth is the webservice key as HTTP Basic user with an empty password. Reads ask for
//! `output_format=JSON` and page with `limit=offset,count` (sorted `[id_ASC]`) until a short
//! page; incremental reads filter `filter[date_upd]=[from,to]` with `date=1`. Writes are what
//! PrestaShop requires: the resource is read, one field changed, and the full resource XML is
//! PUT back (`POST /api/order_histories` for a state change). `settings.base_url` replaces
//! `store_url`; `settings.api_urls.webservice` replaces the whole `{store_url}/api` base.
//!
//! PrestaShop documents no rate limit: requests share a client budget per connection (300 per
//! minute unless `rate_limit_requests`/`rate_limit_window_ms` say otherwise), and a host's
//! 429 is followed through `Retry-After`. PrestaShop has no webhooks (only third-party modules,
//! none documented as a standard), so [`Connector::verify_webhook`] and
//! [`Connector::register_webhooks`] answer [`ConnectorError::Unsupported`] and the scheduled
//! reconciliation poll (`date_upd` filters) keeps PrestaShop connections in step.
//!
//! Writes send the resource XML as the request body (`Content-Type: application/xml`), as the
//! webservice documents; answers are read as JSON (`output_format=JSON`).
//!
//! | canonical | PrestaShop |
//! | --- | --- |
//! | product `sku`, `title`, `description` | `products.reference`, `name`, `description` (language `1`) |
//! | `brand` | `manufacturers.name` of `id_manufacturer` (a new brand is created by `POST /api/manufacturers`) |
//! | `categories` | paths below the shop's root (home) category of `associations.categories` |
//! | `price`, `raw_price` | `price` (tax excluded, six decimals trimmed to at least two) in `PS_CURRENCY_DEFAULT` |
//! | `weight` (kg), `width`/`height`/`depth` (cm), `gtin`, `visible`, `images` | `weight`, `width`/`height`/`depth`, `ean13`, `active`, `associations.images` |
//! | variants | `combinations` (`reference`, `ean13`, price and weight impacts) with `product_option_values` → options |
//! | stock | `stock_availables.quantity` per combination (or per product without combinations); warehouse = `warehouse_mapping[id_shop]`, else the shop id |
//! | order | `orders` + `order_rows`, `customers`, delivery `addresses`, `order_carriers` (shipments with tracking), `current_state` → status |
//! | export stock | `PUT /api/stock_availables/{id}` per changed row (PrestaShop has no batch endpoint); levels of the warehouses mapped to the shop (all, without a mapping) are added up |
//! | export order | `PUT /api/order_carriers/{id}` (carrier, `tracking_number`), then `POST /api/order_histories` when the state differs |
//! | `update_field` | `GET /api/products/{id}`, field changed, read-only fields (`manufacturer_name`, `quantity`) removed, `PUT` of the full product |
//!
//! Incremental product and order reads filter on `date_upd`; `stock_availables` have no
//! modification date, so stock imports always read current levels. `ImportQuery.skus` are
//! resolved to product ids through `products.reference` and `combinations.reference`.
//!
//! The lookups (categories, manufacturers, options and their values, currencies, carriers, the
//! default currency: seven lists) are read again at the start of each product import; an order
//! import reuses them for up to ten minutes, and reads them again sooner only when an order
//! names a currency or carrier they lack, so a poll for new orders is one request (a carrier
//! renamed in the meantime shows its old name until then).

pub mod config;
mod mapping;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::http::{Call, HttpClient, RateLimiter};
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, common_settings, field,
};
use config::{MAX_FILTER_VALUES, MAX_PAGE_SIZE, PrestaShopConfig};
use mapping::{Lookups, any_of, id, items, text};

/// Platform id.
pub const PLATFORM: &str = "prestashop";

/// Pages fetched at most when listing a whole lookup collection.
const MAX_LOOKUP_PAGES: usize = 1000;

/// How long an order import reuses the lookups read before.
const ORDER_LOOKUPS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "PrestaShop".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "store_url",
                "Store URL",
                false,
                true,
                "e.g. https://mystore.com (the webservice is {store_url}/api)",
            ),
            field(
                "webservice_key",
                "Webservice key",
                true,
                true,
                "Advanced Parameters → Webservice: a key with GET/PUT/POST on products, \
                 combinations, stock_availables, orders, order_histories, order_carriers, \
                 categories, manufacturers, customers, addresses, carriers, currencies, \
                 configurations, product_options, product_option_values",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([
                field(
                    "api_urls",
                    "Webservice base URL",
                    false,
                    false,
                    "`webservice`: full URL of {store_url}/api (e.g. a proxy); wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Requests per window",
                    false,
                    false,
                    "Client-side budget (default 300; PrestaShop documents no limit)",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window (ms)",
                    false,
                    false,
                    "Window of the budget (default 60000)",
                ),
            ])
            .collect(),
        docs_url: "https://devdocs.prestashop-project.org/8/webservice/".into(),
    }
}

/// A PrestaShop shop.
pub struct PrestaShop {
    http: HttpClient,
    cfg: PrestaShopConfig,
    /// The lookups and when they were read.
    lookups: RwLock<Option<(Arc<Lookups>, std::time::Instant)>>,
    /// The stock_available row of each sku a stock export has read, as last written: a push
    /// is then one PUT per sku, without a product search and a stock list first.
    stock_rows: std::sync::Mutex<HashMap<String, Value>>,
}

impl std::fmt::Debug for PrestaShop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrestaShop")
            .field("config", &self.cfg)
            .finish()
    }
}

/// Parses a page token (an offset); `None` is 0.
fn offset(token: Option<&str>) -> Result<usize> {
    match token {
        None => Ok(0),
        Some(t) => t
            .trim()
            .parse::<usize>()
            .map_err(|_| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 400,
        message,
    }
}

/// Fields of a product PrestaShop refuses in a PUT (computed or read-only).
const READ_ONLY_PRODUCT_FIELDS: [&str; 3] =
    ["manufacturer_name", "quantity", "position_in_category"];

impl PrestaShop {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = PrestaShopConfig::from_connection(&config)?;
        let limiter = Arc::new(RateLimiter::new(
            cfg.rate_limit_requests,
            cfg.rate_limit_window,
            None,
        ));
        let http = HttpClient::new(
            PLATFORM,
            cfg.policy.clone(),
            &[
                ("authorization", cfg.authorization()),
                ("accept", "application/json".into()),
            ],
            cfg.secrets.clone(),
            limiter,
        )?;
        Ok(Self {
            http,
            cfg,
            lookups: RwLock::new(None),
            stock_rows: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn stock_rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        // Rows as read or written: a panic elsewhere cannot leave one half-changed.
        self.stock_rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.cfg.api_url)
    }

    /// A GET of the webservice asking for JSON.
    fn get(&self, path: &str) -> Call {
        Call::get(self.url(path)).query("output_format", "JSON")
    }

    async fn fetch(&self, call: Call) -> Result<Value> {
        self.http
            .send::<Value>(&call)
            .await?
            .ok_or_else(|| ConnectorError::Malformed("the shop answered with an empty body".into()))
    }

    /// One page of a list (`display=full` unless `display` is given).
    async fn list_page(
        &self,
        resource: &str,
        display: &str,
        filters: &[(String, String)],
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>> {
        let mut call = self
            .get(resource)
            .query("display", display)
            .query("sort", "[id_ASC]")
            .query("limit", format!("{offset},{count}"));
        let mut date = false;
        for (k, v) in filters {
            date |= k.starts_with("date_");
            call = call.query(&format!("filter[{k}]"), v);
        }
        if date {
            call = call.query("date", 1);
        }
        items(self.fetch(call).await?, resource)
    }

    /// Every item of a list, page by page until a short page.
    async fn list_all(
        &self,
        resource: &str,
        display: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<Value>> {
        let count = self.cfg.list_page_size as usize;
        let mut out = Vec::new();
        for page in 0..MAX_LOOKUP_PAGES {
            let batch = self
                .list_page(resource, display, filters, page * count, count)
                .await?;
            let n = batch.len();
            out.extend(batch);
            if n < count {
                break;
            }
        }
        Ok(out)
    }

    /// Every item whose `field` is one of `values` (filters chunked to stay short).
    async fn list_where(
        &self,
        resource: &str,
        display: &str,
        field: &str,
        values: &[String],
    ) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for chunk in values.chunks(MAX_FILTER_VALUES) {
            let filters = [(field.to_string(), any_of(chunk))];
            out.extend(self.list_all(resource, display, &filters).await?);
        }
        Ok(out)
    }

    /// Categories, manufacturers, option values, currencies and carriers, read once.
    async fn lookups(&self, refresh: bool) -> Result<Arc<Lookups>> {
        if !refresh && let Some((l, _)) = self.lookups.read().await.as_ref() {
            return Ok(l.clone());
        }
        let lang = &self.cfg.language_id;
        let categories = self
            .list_all("categories", "[id,id_parent,is_root_category,name]", &[])
            .await?;
        let manufacturers = self.list_all("manufacturers", "[id,name]", &[]).await?;
        let options = self.list_all("product_options", "[id,name]", &[]).await?;
        let values = self
            .list_all("product_option_values", "[id,id_attribute_group,name]", &[])
            .await?;
        let currencies = self.list_all("currencies", "[id,iso_code]", &[]).await?;
        let carriers = self.list_all("carriers", "[id,name]", &[]).await?;
        let default_currency = self
            .list_all(
                "configurations",
                "[name,value]",
                &[("name".into(), "[PS_CURRENCY_DEFAULT]".into())],
            )
            .await?
            .first()
            .map(|c| text(c, "value"))
            .unwrap_or_default();
        let option_names: HashMap<String, String> = options
            .iter()
            .map(|o| (text(o, "id"), mapping::lang(o, "name", lang)))
            .collect();
        let currencies: HashMap<String, String> = currencies
            .iter()
            .map(|c| (text(c, "id"), text(c, "iso_code")))
            .collect();
        let l = Arc::new(Lookups {
            category_paths: mapping::category_paths(&categories, lang),
            manufacturers: manufacturers
                .iter()
                .map(|m| (text(m, "id"), text(m, "name")))
                .collect(),
            option_values: values
                .iter()
                .map(|v| {
                    let group = option_names
                        .get(&text(v, "id_attribute_group"))
                        .cloned()
                        .unwrap_or_default();
                    (text(v, "id"), (group, mapping::lang(v, "name", lang)))
                })
                .collect(),
            default_currency: currencies
                .get(&default_currency)
                .cloned()
                .unwrap_or_else(|| "EUR".into()),
            currencies,
            carriers: carriers
                .iter()
                .map(|c| (text(c, "id"), text(c, "name")))
                .collect(),
        });
        *self.lookups.write().await = Some((l.clone(), std::time::Instant::now()));
        Ok(l)
    }

    /// The lookups an order import needs (currencies and carriers): as read before when they
    /// are younger than [`ORDER_LOOKUPS_MAX_AGE`], so a poll for new orders is one request
    /// rather than eight (the lookups are seven lists); read again when they are older, or
    /// (see [`PrestaShop::knows`]) when an order names a currency or carrier they lack.
    async fn order_lookups(&self) -> Result<Arc<Lookups>> {
        if let Some((l, at)) = self.lookups.read().await.as_ref()
            && at.elapsed() < ORDER_LOOKUPS_MAX_AGE
        {
            return Ok(l.clone());
        }
        self.lookups(true).await
    }

    /// Whether `lk` knows every currency and carrier `orders` and their `carriers` name.
    fn knows(lk: &Lookups, orders: &[Value], carriers: &[Value]) -> bool {
        let known = |map: &HashMap<String, String>, id: String| {
            id.is_empty() || id == "0" || map.contains_key(&id)
        };
        orders
            .iter()
            .all(|o| known(&lk.currencies, text(o, "id_currency")))
            && carriers
                .iter()
                .all(|c| known(&lk.carriers, text(c, "id_carrier")))
    }

    /// Product ids owning `skus` (their own reference or a combination's).
    async fn product_ids_of_skus(&self, skus: &[String]) -> Result<BTreeSet<String>> {
        let mut ids = BTreeSet::new();
        for p in self
            .list_where("products", "[id,reference]", "reference", skus)
            .await?
        {
            ids.insert(text(&p, "id"));
        }
        for c in self
            .list_where(
                "combinations",
                "[id,id_product,reference]",
                "reference",
                skus,
            )
            .await?
        {
            ids.insert(text(&c, "id_product"));
        }
        Ok(ids)
    }

    /// The product ids a query is limited to (`None`: no limit).
    async fn id_scope(&self, query: &ImportQuery) -> Result<Option<BTreeSet<String>>> {
        let mut scope: Option<BTreeSet<String>> = None;
        if !query.ids.is_empty() {
            scope = Some(query.ids.iter().map(|s| s.trim().to_string()).collect());
        }
        if !query.skus.is_empty() {
            let by_sku = self.product_ids_of_skus(&query.skus).await?;
            scope = Some(match scope {
                Some(s) => s.intersection(&by_sku).cloned().collect(),
                None => by_sku,
            });
        }
        Ok(scope)
    }

    fn date_filter(query: &ImportQuery) -> Option<(String, String)> {
        if query.since.is_none() && query.until.is_none() {
            return None;
        }
        let from = query
            .since
            .map(mapping::ps_date)
            .unwrap_or_else(|| "1970-01-01 00:00:00".into());
        // `until` is exclusive; PrestaShop's interval includes both ends (to the second).
        let to = query
            .until
            .map(|u| mapping::ps_date(u - chrono::Duration::seconds(1)))
            .unwrap_or_else(|| "9999-12-31 23:59:59".into());
        Some(("date_upd".into(), format!("[{from},{to}]")))
    }

    fn page_size(&self, query: &ImportQuery) -> usize {
        let size = if query.page_size == 0 {
            self.cfg.page_size
        } else {
            query.page_size
        };
        size.clamp(1, MAX_PAGE_SIZE) as usize
    }

    /// `(product id, combination id)` of each sku (combination "0": the product itself).
    async fn resolve_skus(&self, skus: &[String]) -> Result<HashMap<String, (String, String)>> {
        let mut out = HashMap::new();
        for p in self
            .list_where("products", "[id,reference]", "reference", skus)
            .await?
        {
            out.insert(text(&p, "reference"), (text(&p, "id"), "0".to_string()));
        }
        for c in self
            .list_where(
                "combinations",
                "[id,id_product,reference]",
                "reference",
                skus,
            )
            .await?
        {
            out.insert(
                text(&c, "reference"),
                (text(&c, "id_product"), text(&c, "id")),
            );
        }
        Ok(out)
    }

    /// Reads one resource (`{"product": {...}}` → the product).
    async fn read_one(&self, resource: &str, name: &str, rid: &str) -> Result<Value> {
        let body = self.fetch(self.get(&format!("{resource}/{rid}"))).await?;
        match body {
            Value::Object(mut o) => o.remove(name).ok_or_else(|| {
                ConnectorError::Malformed(format!("the {resource} answer has no `{name}`"))
            }),
            _ => Err(ConnectorError::Malformed(format!(
                "the {resource} answer is not an object"
            ))),
        }
    }

    /// PUTs the full resource back (PrestaShop replaces the whole resource).
    async fn put(&self, resource: &str, name: &str, value: &Value) -> Result<()> {
        let rid = text(value, "id");
        let xml = mapping::resource_xml(name, value)?;
        let call = Call::new(Method::PUT, self.url(&format!("{resource}/{rid}")))
            .query("output_format", "JSON")
            .body("application/xml", xml);
        self.http.send::<Value>(&call).await?;
        Ok(())
    }

    /// Ids of categories by path (`Men/Tops/Hoodies`, case-insensitive).
    fn category_id(lk: &Lookups, path: &str) -> Option<String> {
        let want = path.trim().trim_matches('/').to_lowercase();
        lk.category_paths
            .iter()
            .filter(|(_, p)| p.to_lowercase() == want)
            .map(|(id, _)| id.clone())
            .min_by_key(|id| id.parse::<i64>().unwrap_or(i64::MAX))
    }

    /// The shop's home category (the root category of the shop), usually 2.
    async fn home_category(&self) -> Result<String> {
        let roots = self
            .list_all(
                "categories",
                "[id]",
                &[("is_root_category".into(), "[1]".into())],
            )
            .await?;
        Ok(roots
            .first()
            .map(|c| text(c, "id"))
            .unwrap_or_else(|| "2".into()))
    }

    async fn product_id(&self, update: &FieldUpdate) -> Result<String> {
        if update.external_id.trim().parse::<i64>().is_ok() {
            return Ok(update.external_id.trim().to_string());
        }
        if update.sku.trim().is_empty() {
            return Err(ConnectorError::NotFound(
                "a product without external id or sku".into(),
            ));
        }
        self.product_ids_of_skus(&[update.sku.trim().to_string()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::NotFound(format!("product with sku `{}`", update.sku)))
    }

    /// Creates a manufacturer (brand) and returns its id.
    async fn create_manufacturer(&self, name: &str) -> Result<String> {
        let m = json!({"name": name, "active": "1"});
        let xml = mapping::resource_xml("manufacturer", &m)?;
        let call = Call::new(Method::POST, self.url("manufacturers"))
            .query("output_format", "JSON")
            .body("application/xml", xml);
        let created = self.fetch(call).await?;
        let id = text(&created["manufacturer"], "id");
        if id.is_empty() {
            return Err(ConnectorError::Malformed(
                "the created manufacturer has no id".into(),
            ));
        }
        // The next import must know the new name.
        *self.lookups.write().await = None;
        Ok(id)
    }

    async fn export_one_order(&self, u: &OrderUpdate, lk: &Lookups) -> Result<()> {
        let order = self
            .read_one("orders", "order", u.external_id.trim())
            .await?;
        let oid = text(&order, "id");
        if u.tracking_number.is_some() || u.carrier.is_some() {
            let carriers = self
                .list_all(
                    "order_carriers",
                    "full",
                    &[("id_order".into(), format!("[{oid}]"))],
                )
                .await?;
            let mut oc = carriers.into_iter().next().ok_or_else(|| {
                rejected(format!(
                    "order {oid} has no carrier to attach a shipment to"
                ))
            })?;
            let mut changed = false;
            if let Some(name) = u
                .carrier
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                let carrier = lk
                    .carriers
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(name))
                    .map(|(id, _)| id.clone())
                    .ok_or_else(|| {
                        rejected(format!("carrier `{name}` is not a carrier of this shop"))
                    })?;
                if text(&oc, "id_carrier") != carrier {
                    oc["id_carrier"] = json!(carrier);
                    changed = true;
                }
            }
            if let Some(t) = u.tracking_number.as_deref().map(str::trim)
                && text(&oc, "tracking_number") != t
            {
                oc["tracking_number"] = json!(t);
                changed = true;
            }
            if changed {
                self.put("order_carriers", "order_carrier", &oc).await?;
            }
        }
        if let Some(status) = u.status.as_deref() {
            let state = mapping::state_id(status)
                .ok_or_else(|| rejected(format!("status `{status}` has no PrestaShop state")))?;
            if id(&order, "current_state") != state {
                let history = json!({"id_order": oid, "id_order_state": state.to_string()});
                let xml = mapping::resource_xml("order_history", &history)?;
                let call = Call::new(Method::POST, self.url("order_histories"))
                    .query("output_format", "JSON")
                    .body("application/xml", xml);
                self.http.send::<Value>(&call).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for PrestaShop {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let rows = self
            .list_page(
                "configurations",
                "[name,value]",
                &[("name".into(), "[PS_SHOP_NAME]".into())],
                0,
                1,
            )
            .await?;
        let name = rows.first().map(|r| text(r, "value")).unwrap_or_default();
        if name.is_empty() {
            return Ok("connected to PrestaShop webservice".into());
        }
        Ok(format!("connected to PrestaShop shop {name}"))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let size = self.page_size(query);
        let start = offset(query.page.as_deref())?;
        let mut filters = Vec::new();
        if let Some(scope) = self.id_scope(query).await? {
            if scope.is_empty() {
                return Ok(Page::default());
            }
            let ids: Vec<String> = scope.into_iter().collect();
            if ids.len() > MAX_FILTER_VALUES * 10 {
                return Err(ConnectorError::Config(format!(
                    "at most {} skus or ids per import",
                    MAX_FILTER_VALUES * 10
                )));
            }
            filters.push(("id".to_string(), any_of(&ids)));
        }
        filters.extend(Self::date_filter(query));
        let lk = self.lookups(start == 0).await?;
        let products = self
            .list_page("products", "full", &filters, start, size)
            .await?;
        let ids: Vec<String> = products.iter().map(|p| text(p, "id")).collect();
        let combinations = if ids.is_empty() {
            Vec::new()
        } else {
            self.list_where("combinations", "full", "id_product", &ids)
                .await?
        };
        let by_product = mapping::group_by(&combinations, "id_product");
        let items: Vec<Product> = products
            .iter()
            .map(|p| {
                let combos = by_product.get(&text(p, "id")).cloned().unwrap_or_default();
                mapping::product(p, &combos, &lk, &self.cfg.language_id, &self.cfg.api_url)
            })
            .collect();
        let next = (products.len() == size).then(|| (start + size).to_string());
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let size = self.page_size(query);
        let start = offset(query.page.as_deref())?;
        let mut filters = Vec::new();
        if let Some(scope) = self.id_scope(query).await? {
            if scope.is_empty() {
                return Ok(Page::default());
            }
            filters.push(("id_product".to_string(), any_of(&scope)));
        }
        // stock_availables carry no modification date: every import reads current levels.
        let rows = self
            .list_page("stock_availables", "full", &filters, start, size)
            .await?;
        let pids: BTreeSet<String> = rows.iter().map(|r| text(r, "id_product")).collect();
        let pids: Vec<String> = pids.into_iter().collect();
        let (products, combinations) = if pids.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (
                self.list_where("products", "[id,reference]", "id", &pids)
                    .await?,
                self.list_where(
                    "combinations",
                    "[id,id_product,reference]",
                    "id_product",
                    &pids,
                )
                .await?,
            )
        };
        let product_sku: HashMap<String, String> = products
            .iter()
            .map(|p| (text(p, "id"), text(p, "reference")))
            .collect();
        let combination_sku: HashMap<String, String> = combinations
            .iter()
            .map(|c| (text(c, "id"), text(c, "reference")))
            .collect();
        let with_combinations: BTreeSet<String> =
            combinations.iter().map(|c| text(c, "id_product")).collect();
        let wanted: BTreeSet<&str> = query.skus.iter().map(String::as_str).collect();
        let mut items = Vec::new();
        for r in &rows {
            let pid = text(r, "id_product");
            let attr = text(r, "id_product_attribute");
            let sku = if attr == "0" || attr.is_empty() {
                // A product with combinations keeps their total on its own row: skip it.
                if with_combinations.contains(&pid) {
                    continue;
                }
                product_sku.get(&pid).cloned()
            } else {
                combination_sku.get(&attr).cloned()
            };
            let Some(sku) = sku.filter(|s| !s.is_empty()) else {
                continue;
            };
            if !wanted.is_empty() && !wanted.contains(sku.as_str()) {
                continue;
            }
            let shop = text(r, "id_shop");
            let warehouse = self
                .cfg
                .warehouse_mapping
                .get(&shop)
                .cloned()
                .unwrap_or(shop);
            let q = id(r, "quantity");
            items.push(StockLevel {
                sku,
                warehouse,
                on_hand: q,
                reserved: 0,
                available: q,
            });
        }
        let next = (rows.len() == size).then(|| (start + size).to_string());
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let size = self.page_size(query);
        let start = offset(query.page.as_deref())?;
        let mut filters = Vec::new();
        if !query.ids.is_empty() {
            filters.push(("id".to_string(), any_of(&query.ids)));
        }
        filters.extend(Self::date_filter(query));
        let mut lk = self.order_lookups().await?;
        let orders = self
            .list_page("orders", "full", &filters, start, size)
            .await?;
        let col = |f: &str| -> Vec<String> {
            let s: BTreeSet<String> = orders
                .iter()
                .map(|o| text(o, f))
                .filter(|v| !v.is_empty() && v != "0")
                .collect();
            s.into_iter().collect()
        };
        let (customer_ids, address_ids, order_ids) =
            (col("id_customer"), col("id_address_delivery"), col("id"));
        let mut customers = Vec::new();
        let mut addresses = Vec::new();
        let mut carriers = Vec::new();
        if !orders.is_empty() {
            customers = self
                .list_where(
                    "customers",
                    "[id,firstname,lastname,email]",
                    "id",
                    &customer_ids,
                )
                .await?;
            addresses = self
                .list_where("addresses", "full", "id", &address_ids)
                .await?;
            carriers = self
                .list_where("order_carriers", "full", "id_order", &order_ids)
                .await?;
        }
        if !Self::knows(&lk, &orders, &carriers) {
            lk = self.lookups(true).await?;
        }
        let customers: HashMap<String, &Value> =
            customers.iter().map(|c| (text(c, "id"), c)).collect();
        let addresses: HashMap<String, &Value> =
            addresses.iter().map(|a| (text(a, "id"), a)).collect();
        let carriers: BTreeMap<String, Vec<&Value>> = mapping::group_by(&carriers, "id_order");
        let items = orders
            .iter()
            .map(|o| {
                let oc = carriers.get(&text(o, "id")).cloned().unwrap_or_default();
                mapping::order(
                    o,
                    customers.get(&text(o, "id_customer")).copied(),
                    addresses.get(&text(o, "id_address_delivery")).copied(),
                    &oc,
                    &lk,
                )
            })
            .collect();
        let next = (orders.len() == size).then(|| (start + size).to_string());
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        // One stock per shop: levels of the warehouses mapped to the shop (all warehouses
        // when no mapping is set) are added up per sku.
        let mapped: BTreeSet<&str> = self
            .cfg
            .warehouse_mapping
            .values()
            .map(String::as_str)
            .collect();
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        for l in levels {
            if !mapped.is_empty() && !mapped.contains(l.warehouse.as_str()) {
                report.rejected.push((
                    format!("{}@{}", l.sku, l.warehouse),
                    format!("warehouse `{}` is not mapped to this shop", l.warehouse),
                ));
                continue;
            }
            *wanted.entry(l.sku.clone()).or_default() += l.on_hand.max(0);
        }
        if wanted.is_empty() {
            return Ok(report);
        }
        // Rows remembered from earlier exports are written as they are (every field but the
        // quantity is the shop's own); the others are looked up.
        let mut remembered: HashMap<String, Value> = HashMap::new();
        {
            let rows = self.stock_rows();
            for sku in wanted.keys() {
                if let Some(r) = rows.get(sku) {
                    remembered.insert(sku.clone(), r.clone());
                }
            }
        }
        let skus: Vec<String> = wanted
            .keys()
            .filter(|s| !remembered.contains_key(*s))
            .cloned()
            .collect();
        let ids = if skus.is_empty() {
            HashMap::new()
        } else {
            self.resolve_skus(&skus).await?
        };
        let pids: BTreeSet<String> = ids.values().map(|(p, _)| p.clone()).collect();
        let pids: Vec<String> = pids.into_iter().collect();
        let rows = if pids.is_empty() {
            Vec::new()
        } else {
            self.list_where("stock_availables", "full", "id_product", &pids)
                .await?
        };
        let by_key: HashMap<(String, String), &Value> = rows
            .iter()
            .map(|r| ((text(r, "id_product"), text(r, "id_product_attribute")), r))
            .collect();
        for (sku, qty) in wanted {
            if let Some(mut row) = remembered.remove(&sku) {
                row["quantity"] = json!(qty.to_string());
                match self.put("stock_availables", "stock_available", &row).await {
                    Ok(()) => {
                        report.accepted += 1;
                        self.stock_rows().insert(sku, row);
                    }
                    Err(e) if e.is_record_level() => {
                        self.stock_rows().remove(&sku);
                        report.rejected.push((sku, e.to_string()));
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let Some(key) = ids.get(&sku) else {
                report.rejected.push((
                    sku.clone(),
                    format!("no product or combination with sku `{sku}`"),
                ));
                continue;
            };
            let Some(row) = by_key.get(key) else {
                report
                    .rejected
                    .push((sku.clone(), "no stock row for this sku".into()));
                continue;
            };
            let mut row = (*row).clone();
            if id(&row, "quantity") == qty {
                report.accepted += 1;
                self.stock_rows().insert(sku, row);
                continue;
            }
            row["quantity"] = json!(qty.to_string());
            match self.put("stock_availables", "stock_available", &row).await {
                Ok(()) => {
                    report.accepted += 1;
                    self.stock_rows().insert(sku, row);
                }
                Err(e) if e.is_record_level() => report.rejected.push((sku, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        if updates.is_empty() {
            return Ok(report);
        }
        let lk = self.lookups(false).await?;
        for u in updates {
            match self.export_one_order(u, &lk).await {
                Ok(()) => report.accepted += 1,
                Err(e) if e.is_record_level() => {
                    report.rejected.push((u.external_id.clone(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        let pid = self.product_id(update).await?;
        let mut p = self.read_one("products", "product", &pid).await?;
        let lang = self.cfg.language_id.clone();
        let value = update.value.trim();
        let decimal = |name: &str| -> Result<String> {
            let amount = mapping::amount(value)
                .ok_or_else(|| rejected(format!("{name} `{value}` is not a decimal number")))?;
            if amount.starts_with('-') {
                return Err(rejected(format!("{name} must not be negative")));
            }
            Ok(amount)
        };
        match update.field.as_str() {
            "description" => mapping::set_lang(&mut p, "description", &lang, &update.value),
            "title" | "name" => {
                if value.is_empty() {
                    return Err(rejected("title must not be empty".into()));
                }
                mapping::set_lang(&mut p, "name", &lang, value);
            }
            "price" => p["price"] = json!(decimal("price")?),
            "weight" => p["weight"] = json!(decimal("weight")?),
            "brand" => {
                let id = if value.is_empty() {
                    "0".to_string()
                } else {
                    let lk = self.lookups(true).await?;
                    match lk
                        .manufacturers
                        .iter()
                        .find(|(_, n)| n.eq_ignore_ascii_case(value))
                    {
                        Some((id, _)) => id.clone(),
                        None => self.create_manufacturer(value).await?,
                    }
                };
                p["id_manufacturer"] = json!(id);
            }
            "categories" => {
                let lk = self.lookups(true).await?;
                let home = self.home_category().await?;
                let mut ids = vec![home.clone()];
                for path in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    let cid = Self::category_id(&lk, path).ok_or_else(|| {
                        rejected(format!("category `{path}` does not exist in this shop"))
                    })?;
                    if !ids.contains(&cid) {
                        ids.push(cid);
                    }
                }
                p["id_category_default"] = json!(ids.get(1).unwrap_or(&home));
                let list: Vec<Value> = ids.iter().map(|i| json!({ "id": i })).collect();
                if !p["associations"].is_object() {
                    p["associations"] = json!({});
                }
                p["associations"]["categories"] = Value::Array(list);
            }
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "prestashop field `{other}`"
                )));
            }
        }
        if let Some(o) = p.as_object_mut() {
            for f in READ_ONLY_PRODUCT_FIELDS {
                o.remove(f);
            }
        }
        self.put("products", "product", &p).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_naming_an_unknown_currency_or_carrier_need_the_lookups_again() {
        let lk = Lookups {
            currencies: HashMap::from([("1".to_string(), "EUR".to_string())]),
            carriers: HashMap::from([("2".to_string(), "UPS".to_string())]),
            ..Lookups::default()
        };
        let order = |currency: &str| json!({"id": "9", "id_currency": currency});
        let carrier = |id: &str| json!({"id_order": "9", "id_carrier": id});
        assert!(PrestaShop::knows(&lk, &[order("1")], &[carrier("2")]));
        assert!(PrestaShop::knows(&lk, &[order("0")], &[carrier("")]));
        assert!(!PrestaShop::knows(&lk, &[order("3")], &[carrier("2")]));
        assert!(!PrestaShop::knows(&lk, &[order("1")], &[carrier("4")]));
    }
}
