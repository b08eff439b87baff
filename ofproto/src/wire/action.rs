//! (in progress: OXM match / actions / instructions; owned by the fields helper)
