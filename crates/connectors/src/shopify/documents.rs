//! Every GraphQL document the connector sends, as constants, so tests can validate each one
//! against the Admin API schema ([`documents`]). Requested costs of one node of each paged
//! query follow Shopify's rules (objects 1, scalars 0, connections 2 + `first` × node).

/// The selection of one product (variants and media included). Variants carry no inventory
/// item here (it would multiply the cost by 100): the product weight comes from the first
/// variant only (`weightVariant`).
macro_rules! product_node {
    () => {
        "id legacyResourceId title descriptionHtml vendor productType status updatedAt \
         sku: metafield(namespace: \"custom\", key: \"sku\") { value } \
         gtin: metafield(namespace: \"custom\", key: \"gtin\") { value } \
         priceRangeV2 { minVariantPrice { amount currencyCode } } \
         media(first: 10) { nodes { preview { image { url } } } } \
         weightVariant: variants(first: 1) { nodes { inventoryItem { measurement { weight { unit value } } } } } \
         variants(first: 100) { nodes { id sku price barcode selectedOptions { name value } } }"
    };
}

/// Requested cost of one product node of [`PRODUCTS`]: 1 + metafields 2 + price range 2 +
/// media (2 + 10 × 3) + weight variant (2 + 1 × 4) + variants (2 + 100 × 2).
pub const PRODUCT_NODE_COST: u32 = 1 + 2 + 2 + 32 + 6 + 202;

/// Shop name and the granted access scopes.
pub const TEST_CONNECTION: &str = "query TestConnection { shop { name myshopifyDomain currencyCode } currentAppInstallation { accessScopes { handle } } }";

/// One page of products (cursor pagination, search `query`, sorted by id).
pub const PRODUCTS: &str = concat!(
    "query Products($first: Int!, $after: String, $query: String) { ",
    "products(first: $first, after: $after, query: $query, sortKey: ID) { ",
    "pageInfo { hasNextPage endCursor } nodes { ",
    product_node!(),
    " } } }"
);

/// The bulk query of a full catalog read (run by [`BULK_RUN`]); nested connections are
/// written as `edges { node }` as bulk operations require, and come back as JSONL lines with
/// `__parentId`.
pub const BULK_PRODUCTS_QUERY: &str = "{ products { edges { node { id legacyResourceId title descriptionHtml vendor productType status updatedAt sku: metafield(namespace: \"custom\", key: \"sku\") { value } gtin: metafield(namespace: \"custom\", key: \"gtin\") { value } priceRangeV2 { minVariantPrice { amount currencyCode } } media { edges { node { id preview { image { url } } } } } variants { edges { node { id sku price barcode selectedOptions { name value } inventoryItem { measurement { weight { unit value } } } } } } } } } }";

/// Starts a bulk query.
pub const BULK_RUN: &str = "mutation BulkRun($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } } }";

/// Polls a bulk operation.
pub const BULK_STATUS: &str = "query BulkStatus($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } } }";

/// The shop's current bulk operation (to wait for one already running).
pub const CURRENT_BULK: &str =
    "query CurrentBulk { currentBulkOperation { id status errorCode objectCount url } }";

/// Requested cost of one inventory item of [`INVENTORY_ITEMS`]: 1 + levels (2 + 10 × 3).
pub const INVENTORY_NODE_COST: u32 = 1 + 32;

/// Inventory items with their quantities at every location.
pub const INVENTORY_ITEMS: &str = "query InventoryItems($first: Int!, $after: String, $query: String) { inventoryItems(first: $first, after: $after, query: $query) { pageInfo { hasNextPage endCursor } nodes { id sku updatedAt inventoryLevels(first: 10) { nodes { location { id name } quantities(names: [\"available\", \"on_hand\", \"committed\"]) { name quantity } } } } } }";

/// Requested cost of one order of [`ORDERS`]: 1 + total 2 + addresses 2 + lines
/// (2 + 50 × 3) + fulfillments (2 + 5 × 2).
pub const ORDER_NODE_COST: u32 = 1 + 2 + 2 + 152 + 12;

/// One page of orders.
pub const ORDERS: &str = "query Orders($first: Int!, $after: String, $query: String) { orders(first: $first, after: $after, query: $query, sortKey: ID) { pageInfo { hasNextPage endCursor } nodes { id legacyResourceId name email phone createdAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus totalPriceSet { shopMoney { amount currencyCode } } billingAddress { name address1 address2 city zip countryCodeV2 phone } shippingAddress { name address1 address2 city zip countryCodeV2 phone } lineItems(first: 50) { nodes { id sku title quantity originalUnitPriceSet { shopMoney { amount currencyCode } } } } fulfillments(first: 5) { id trackingInfo(first: 5) { company number } } } } }";

/// What a shipment export needs: fulfillment orders with their remaining lines, and the
/// tracking numbers already sent.
pub const ORDER_FOR_FULFILLMENT: &str = "query OrderForFulfillment($id: ID!) { order(id: $id) { id cancelledAt fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 50) { nodes { id remainingQuantity lineItem { sku } } } } } fulfillments(first: 20) { trackingInfo(first: 5) { number } } } }";

/// Creates a fulfillment (a shipment, with tracking).
pub const FULFILLMENT_CREATE: &str = "mutation FulfillmentCreate($fulfillment: FulfillmentInput!) { fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id status trackingInfo(first: 5) { company number } } userErrors { field message } } }";

/// Cancels an order.
pub const ORDER_CANCEL: &str = "mutation OrderCancel($orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!, $restock: Boolean!) { orderCancel(orderId: $orderId, reason: $reason, refund: $refund, restock: $restock) { job { id done } orderCancelUserErrors { code field message } } }";

/// Sets absolute quantities (at most 250 per call) with compare quantities.
pub const SET_QUANTITIES: &str = "mutation SetQuantities($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } } userErrors { code field message } } }";

/// Updates product fields (title, description, vendor, product type).
pub const PRODUCT_UPDATE: &str = "mutation ProductUpdate($product: ProductUpdateInput!) { productUpdate(product: $product) { product { id updatedAt } userErrors { field message } } }";

/// The variant ids of a product.
pub const PRODUCT_VARIANTS: &str = "query ProductVariants($id: ID!) { product(id: $id) { id variants(first: 100) { nodes { id sku } } } }";

/// Updates variants (price, weight) of one product, at most 250 per call.
pub const VARIANTS_BULK_UPDATE: &str = "mutation VariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $productId, variants: $variants) { productVariants { id } userErrors { code field message } } }";

/// The shop's webhook subscriptions to one URL.
pub const WEBHOOK_SUBSCRIPTIONS: &str = "query WebhookSubscriptions($callbackUrl: URL) { webhookSubscriptions(first: 100, callbackUrl: $callbackUrl) { nodes { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } } } }";

/// Subscribes a URL to a topic.
pub const WEBHOOK_SUBSCRIPTION_CREATE: &str = "mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) { webhookSubscription { id topic } userErrors { field message } } }";

/// Every document, by name, for schema validation.
pub fn documents() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TestConnection", TEST_CONNECTION),
        ("Products", PRODUCTS),
        ("BulkProductsQuery", BULK_PRODUCTS_QUERY),
        ("BulkRun", BULK_RUN),
        ("BulkStatus", BULK_STATUS),
        ("CurrentBulk", CURRENT_BULK),
        ("InventoryItems", INVENTORY_ITEMS),
        ("Orders", ORDERS),
        ("OrderForFulfillment", ORDER_FOR_FULFILLMENT),
        ("FulfillmentCreate", FULFILLMENT_CREATE),
        ("OrderCancel", ORDER_CANCEL),
        ("SetQuantities", SET_QUANTITIES),
        ("ProductUpdate", PRODUCT_UPDATE),
        ("ProductVariants", PRODUCT_VARIANTS),
        ("VariantsBulkUpdate", VARIANTS_BULK_UPDATE),
        ("WebhookSubscriptions", WEBHOOK_SUBSCRIPTIONS),
        ("WebhookSubscriptionCreate", WEBHOOK_SUBSCRIPTION_CREATE),
    ]
}
