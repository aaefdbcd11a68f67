"""The decision log: log (store, hash chain, verify), records (the typed record and its schema versions), replay."""
