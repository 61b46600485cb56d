module rollgate/interop/gobvectors

go 1.25
