"""One module per architecture family; importing this package registers them all."""
