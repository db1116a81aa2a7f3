"""The Job record, typed settings and the stores every function shares (Table, Blob, queue)."""
