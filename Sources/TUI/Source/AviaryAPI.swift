/// Aviary's own API: the union of NanoMQ's and EMQX v4's shapes with exact per-client
/// counters, server-side sort, filter and paging (`/api/v4`), kick by DELETE.
struct AviaryAPI: BrokerAPI {
    let poller: Poller

    func listClients() async throws -> ClientListing {
        try await poller.listWindowed()
    }

    func detail(_ id: String) async -> DetailInfo {
        await poller.detailV4(id, lookup: "/api/v4/clients/", subscriptions: "/api/v4/subscriptions/")
    }

    func allSubscriptions() async -> [SubscriptionRow]? {
        await poller.subscriptionsPaged({ "/api/v4/subscriptions?_page=\($0)&_limit=10000" }, fetch: { try await poller.request($0) })
    }

    func kick(_ id: String) async -> String {
        await poller.kickByDelete(id, path: "/api/v4/clients/")
    }
}
