"""AWS Lambda backends (``backend/lambda``): KrakenD's behaviour plus documented extensions.

Per backend, compiled once: options (:mod:`.options`), the shared Invoke target (:mod:`.invoker`:
own SigV4 signer, retries and error mapping over krakenpy's upstream client), the event builder
(:mod:`.payload`) and the answer decoder (:mod:`.response`), tied together by :mod:`.executor`;
:func:`krakenpy.lambda_.backend.lambda_executor` builds one.
This package's ``__init__`` imports nothing: aiobotocore is loaded only by configs that use Lambda.
"""
