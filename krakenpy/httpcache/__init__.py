"""KrakenD's backend HTTP cache (krakend-httpcache over krakend/httpcache, a gregjones/httpcache fork):
a private RFC 7234 subset in each backend's upstream client."""
