"""BI as code: card and dashboard specs, their SQL, the Metabase provisioner and the HTML report."""
