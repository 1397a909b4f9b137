"""The core: Inbound and Outbound, the turn, typed-input matching and the router. It knows no domain."""
