"""Analytics: cost series and totals over the request log, and on-demand refreshes of them."""
