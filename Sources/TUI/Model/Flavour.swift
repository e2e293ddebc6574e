/// Which management API a dashboard talks to; detected from the responses themselves.
public enum Flavour: String, Sendable, CaseIterable {
    /// Our broker: the union of NanoMQ and EMQX v4 keys, server-side sort and paging.
    case aviary
    /// NanoMQ HTTP API v4: no per-client counters, no paging; a kick endpoint only in newer versions.
    case nanomq
    /// EMQX v4 `/api/v4/clients`.
    case emqx4
    /// EMQX v3 `/api/v3/connections`.
    case emqx3
    /// EMQX 5 and 6 `/api/v5`: page/limit/hasnext paging, no server-side sort, a `node` on
    /// every client (clusters), kick answered 204.
    case emqx5

    /// Detects the flavour from one client object's keys.
    static func detect(_ object: [String: Any]) -> Flavour {
        if object["client_id"] != nil && object["clientid"] != nil { return .aviary }
        if object["inflight_cnt"] != nil { return .emqx5 }
        if object["clientid"] != nil { return .emqx4 }
        if object["conn_mod"] != nil || object["ipaddress"] != nil { return .emqx3 }
        return .nanomq
    }
}
