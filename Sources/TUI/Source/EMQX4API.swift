/// EMQX v4 (`/api/v4/clients`, server-side sort and paging like aviary's) and EMQX v3
/// (`/api/v3/connections`, fetched whole); kick by DELETE on either.
struct EMQX4API: BrokerAPI {
    let poller: Poller
    /// `.emqx4` or `.emqx3`.
    let version: Flavour

    private var base: String { version == .emqx3 ? "/api/v3" : "/api/v4" }
    private var clients: String { version == .emqx3 ? "/api/v3/connections/" : "/api/v4/clients/" }

    func listClients() async throws -> ClientListing {
        guard version == .emqx3 else { return try await poller.listWindowed() }
        return ClientListing(page: try await poller.listWhole("/api/v3/connections?_limit=10000"))
    }

    func detail(_ id: String) async -> DetailInfo {
        await poller.detailV4(id, lookup: clients, subscriptions: base + "/subscriptions/")
    }

    func allSubscriptions() async -> [SubscriptionRow]? {
        guard version == .emqx4 else { return await poller.subscriptionsWhole("/api/v3/subscriptions?_limit=10000") }
        return await poller.subscriptionsPaged({ "/api/v4/subscriptions?_page=\($0)&_limit=10000" }, fetch: { try await poller.request($0) })
    }

    func kick(_ id: String) async -> String {
        await poller.kickByDelete(id, path: clients)
    }
}
