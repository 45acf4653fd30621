"""Images the bot sends: QR codes and the like."""
