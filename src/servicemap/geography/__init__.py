"""Where: police force areas, districts, postcodes, boundaries and need."""
