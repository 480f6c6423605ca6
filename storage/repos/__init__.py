"""The SQL repositories, one module per area; the unit of work holds them."""
