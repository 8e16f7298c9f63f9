DROP FUNCTION billing.capture_usage;
