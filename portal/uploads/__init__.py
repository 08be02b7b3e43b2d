"""Uploads from the back office: files staff hand to Settle in the browser.

`jobs` stores an uploaded invoice CSV, bank statement or e-invoice file and imports it in
`flask worker` (outside the web request) through the same functions as the command line;
`logo` checks and stores a merchant's logo.
"""
