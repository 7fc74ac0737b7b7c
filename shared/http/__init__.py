"""HTTP plumbing: app factory, middleware, envelopes, errors, OpenAPI, internal client."""
