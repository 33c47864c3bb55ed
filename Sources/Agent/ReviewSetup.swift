import Config
import Foundation
import Model
import Policy
import Review

/// The composition root of the reviewer tier: reads each tier's key from the environment and hands every
/// reviewer only its own (invariant 11). Every refusal is bad input (exit 2), raised before anything runs.
enum ReviewSetup {
    static func board(_ config: LoadedConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ReviewBoard {
        let keys = try self.keys(config, environment: environment)
        do {
            var board = try ReviewBoard.make(config: config, keys: keys)
            board.checkNames = PolicyEngine.checkNames
            return board
        } catch {
            throw CLIError.badInput("reviewers: \(error)")
        }
    }

    /// Reads the variable each tier's `api_key_env` names. Refused, naming the config key and never a value:
    /// a name that is a venue credential; a key that would go over plain http to a non-loopback host; a key
    /// (or a reviewer's base URL or model, which `${VAR}` may have filled in) equal to a venue credential's value.
    static func keys(_ config: LoadedConfig, environment: [String: String]) throws -> ReviewerKeys {
        let venueValues = VenueCredentials.all.compactMap { environment[$0] }.filter { $0.count >= 8 }
        var keys: [ReviewerTier: APIKey] = [:]
        for tier in ReviewerTier.allCases {
            let rc = config.app.reviewers.config(for: tier)
            let key = "app.yaml reviewers.\(tier.rawValue.lowercased())"
            guard rc.provider != "offline" else { continue }
            if [rc.baseUrl, rc.model].contains(where: { text in venueValues.contains { text.contains($0) } }) {
                throw CLIError.badInput("reviewers: \(key): a reviewer setting contains the value of a venue credential: refused")
            }
            guard !rc.apiKeyEnv.isEmpty else { continue }
            if VenueCredentials.isVenueCredential(rc.apiKeyEnv) {
                throw CLIError.badInput("reviewers: \(key).api_key_env: \(rc.apiKeyEnv) is a venue credential: a reviewer is never handed an exchange key")
            }
            let endpoint = ProviderKind(rawValue: rc.provider)?.endpoint(base: rc.baseUrl) ?? rc.baseUrl
            if !Endpoint.mayCarryKey(endpoint) {
                throw CLIError.badInput("reviewers: \(key).base_url: \(endpoint) is plain http to a non-loopback host: the key would travel unencrypted")
            }
            guard let value = environment[rc.apiKeyEnv], !value.isEmpty else {
                throw CLIError.badInput("reviewers: \(key).api_key_env: environment variable \(rc.apiKeyEnv) is not set (provider \(rc.provider) needs a key)")
            }
            if venueValues.contains(value) {
                throw CLIError.badInput("reviewers: \(key).api_key_env: \(rc.apiKeyEnv) holds the same value as a venue credential: refused")
            }
            keys[tier] = APIKey(value)
        }
        return ReviewerKeys(keys)
    }
}
