// Back office: small enhancements on top of pages that work without JavaScript.
