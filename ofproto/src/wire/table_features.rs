//! (in progress: messages; owned by the messages helper)
