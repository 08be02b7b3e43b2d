"""The simulator: the next days of invoices as the real dunning run and worker would make them,
computed in a transaction that is rolled back (`engine`), and its back-office page (`views`)."""
