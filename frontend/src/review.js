// review placeholder
